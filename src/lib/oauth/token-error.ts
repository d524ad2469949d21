import { MailError, classifyError, type FailureDetails } from '../mail-error';

/** OAuth2 error codes (RFC 6749 5.2, RFC 8628 3.5) that mean the grant is gone: only a new sign-in helps. */
const SIGNIN_ERRORS = new Set(['invalid_grant', 'expired_token', 'access_denied', 'consent_required', 'interaction_required', 'login_required']);
/** The provider's own "try later". */
const TEMPORARY_ERRORS = new Set(['server_error', 'temporarily_unavailable']);
/** Library codes for no answer in time, or one that is not an OAuth2 answer at all (a proxy's page, a truncated body). */
const NO_USABLE_ANSWER = new Set(['OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_PARSE_ERROR', 'OAUTH_INVALID_RESPONSE', 'OAUTH_TIMEOUT']);

interface LibraryError {
  name?: unknown;
  code?: unknown;
  error?: unknown;
  status?: unknown;
  cause?: unknown;
}

function fieldsOf(err: unknown): LibraryError {
  return typeof err === 'object' && err !== null ? (err as LibraryError) : {};
}

/** An OAuth2 `error` value from a token endpoint or an authorization response, when the error carries one. */
export function oauthErrorCode(err: unknown): string | undefined {
  const { error } = fieldsOf(err);
  return typeof error === 'string' ? error : undefined;
}

function httpStatus(err: unknown): number | undefined {
  const { status, cause } = fieldsOf(err);
  if (typeof status === 'number') return status;
  // openid-client keeps the Response as the cause of "unexpected HTTP response status code".
  const causeStatus = fieldsOf(cause).status;
  return typeof causeStatus === 'number' ? causeStatus : undefined;
}

/** Only registered-looking codes reach details: they end up in the editor, raw server text must not. */
function safeDetails(error: string | undefined, status: number | undefined): FailureDetails {
  const details: FailureDetails = {};
  if (error && /^[a-z_]{1,40}$/.test(error)) details.error = error;
  if (status !== undefined) details.status = String(status);
  return details;
}

function describe(error: string | undefined, status: number | undefined): string {
  return `token endpoint answered ${error ?? 'an error'}${status === undefined ? '' : ` (HTTP ${status})`}`;
}

function classifyAnswer(error: string | undefined, status: number | undefined): MailError {
  const details = safeDetails(error, status);
  const message = describe(error, status);
  if (error && SIGNIN_ERRORS.has(error)) return new MailError('oauth-signin-required', message, details);
  if ((error && TEMPORARY_ERRORS.has(error)) || status === undefined || status >= 500 || status === 429 || status === 408) {
    return new MailError('oauth-unavailable', message, details);
  }
  // invalid_client, unauthorized_client, invalid_scope, a 401 or 404: the client's registration or
  // our settings are wrong, and retrying will not change that.
  return new MailError('oauth-client', message, details);
}

/** True for errors that come from the network below HTTP (fetch wraps them as a TypeError with a cause). */
function isNetworkFailure(err: unknown): boolean {
  const { name, cause } = fieldsOf(err);
  return name === 'TypeError' && cause !== undefined;
}

/**
 * Maps whatever openid-client (or fetch below it) threw onto our failure codes. The library's own
 * errors are not kept as causes: some carry the callback's parameters or the answer's body.
 */
export function classifyTokenError(err: unknown): MailError {
  if (err instanceof MailError) return err;
  const { name, code } = fieldsOf(err);
  const error = oauthErrorCode(err);
  const status = httpStatus(err);
  if (name === 'ResponseBodyError' || name === 'AuthorizationResponseError' || name === 'WWWAuthenticateChallengeError') {
    return classifyAnswer(error, status);
  }
  if (code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') return classifyAnswer(undefined, status);
  // An error status with a body that is not OAuth2 JSON (a bare 401, a proxy's 500 page) counts by its status.
  if (status !== undefined && status >= 400 && typeof code === 'string' && NO_USABLE_ANSWER.has(code)) return classifyAnswer(undefined, status);
  if (typeof code === 'string' && NO_USABLE_ANSWER.has(code)) {
    return new MailError('oauth-unavailable', `token endpoint gave no usable answer (${code})`, safeDetails(undefined, status));
  }
  if (code === 'OAUTH_HTTP_REQUEST_FORBIDDEN' || code === 'OAUTH_REQUEST_PROTOCOL_FORBIDDEN' || code === 'ERR_INVALID_ARG_VALUE' || code === 'ERR_INVALID_ARG_TYPE') {
    return new MailError('invalid-config', `OAuth2 settings rejected by the client library (${code})`);
  }
  if (isNetworkFailure(err)) {
    const network = classifyError(fieldsOf(err).cause);
    // A provider whose certificate we cannot verify is reported like a mail server's: the user
    // can act on it (NODE_EXTRA_CA_CERTS), and it is not something that passes by itself.
    if (network.code === 'tls-untrusted' || network.code === 'tls-hostname') return network;
    return new MailError('oauth-unavailable', `token endpoint unreachable (${network.message})`, {}, { cause: fieldsOf(err).cause });
  }
  if (code === 'OAUTH_ABORT') return new MailError('closed', 'OAuth2 request cancelled');
  return new MailError('oauth-unavailable', `OAuth2 request failed (${typeof code === 'string' ? code : 'unknown'})`);
}
