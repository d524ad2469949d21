import type { Transporter } from 'nodemailer';
import { MailError, classifyError } from '../mail-error';
import type { AccessTokenSource } from '../oauth/oauth-settings';

/**
 * Hands nodemailer our tokens through its provisioning callback, so nodemailer never holds a
 * refresh token or client secret (its own refresh would drop a rotated refresh token). Each pooled
 * connection asks when it logs in; the token source is single-flight, so a burst of new
 * connections during a refresh shares that one refresh.
 */
export function provideTokens(transport: Transporter, tokens: AccessTokenSource): void {
  // nodemailer calls this as a method of the connection's XOAuth2 object, which holds the token
  // that connection was refused with; without it, the last token handed out is the best guess.
  let lastHanded: string | undefined;
  transport.set('oauth2_provision_cb', function provision(
    this: { accessToken?: unknown } | undefined,
    _user: string,
    renew: boolean,
    callback: (err: Error | null, accessToken?: string) => void,
  ): void {
    // renew: the server refused the token this connection used (nodemailer then tries once more).
    if (renew) {
      const previous = typeof this?.accessToken === 'string' && this.accessToken !== '' ? this.accessToken : lastHanded;
      if (previous !== undefined) tokens.refused(previous);
    }
    tokens.accessToken().then(
      (token) => {
        lastHanded = token;
        callback(null, token);
      },
      (err: unknown) => callback(new TokenSourceFailure(err instanceof MailError ? err : classifyError(err))),
    );
  });
}

/**
 * nodemailer rewrites the code of the error a provisioning callback returns (to EAUTH), which
 * would turn "sign in again" or "provider unreachable" into a wrong password; this wrapper keeps
 * the token source's own failure for oauthSendFailure() to take back out.
 */
class TokenSourceFailure extends Error {
  constructor(readonly failure: MailError) {
    super(failure.message, { cause: failure });
    this.name = 'TokenSourceFailure';
  }
}

/**
 * The failure to report when an OAuth2 login failed for a reason that is not a refused token:
 * the token source could not give one, or the server could not check it now (454, RFC 4954:
 * "temporary authentication failure", which Postfix answers when its SASL backend cannot reach
 * the provider). Undefined for anything else.
 */
export function oauthSendFailure(err: unknown): MailError | undefined {
  if (err instanceof TokenSourceFailure) return err.failure;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { code?: unknown; responseCode?: unknown };
  if (e.code === 'EAUTH' && e.responseCode === 454) {
    return new MailError('oauth-unavailable', 'SMTP server could not check the OAuth2 token now (454)', {}, { cause: err });
  }
  return undefined;
}
