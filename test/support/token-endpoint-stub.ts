// A scriptable OAuth2 token endpoint (and device authorization endpoint) on 127.0.0.1 for unit
// tests: each test says what every request gets (status, JSON or raw text, a delay), and reads
// back what was asked. Plain HTTP by default, HTTPS with a given certificate.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { OAuthSettings } from '../../src/lib/oauth/oauth-settings';
import type { KeyPair } from './certificates';

export interface StubRequest {
  path: string;
  /** The form body. */
  params: URLSearchParams;
  authorization?: string;
}

export interface StubAnswer {
  status?: number;
  /** Sent as application/json. */
  json?: unknown;
  /** Sent as is, with `contentType` (text/html unless given). */
  text?: string;
  contentType?: string;
  delayMs?: number;
  /** Drop the connection instead of answering. */
  reset?: boolean;
}

export type StubHandler = (request: StubRequest) => StubAnswer | Promise<StubAnswer>;

/** A successful token answer. */
export function tokens(fields: { access_token: string; refresh_token?: string; expires_in?: number; id_token?: string }): StubAnswer {
  return { json: { token_type: 'Bearer', ...fields } };
}

/** An OAuth2 error answer (RFC 6749 5.2). */
export function oauthError(error: string, status = 400): StubAnswer {
  return { status, json: { error } };
}

/** An unsigned JWT carrying `claims`: enough for code that only reads claims. */
export function unsignedJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

export class TokenEndpointStub {
  readonly requests: StubRequest[] = [];
  /** Answers taken in order; when empty, `handler` answers. */
  private readonly queued: StubAnswer[] = [];
  handler: StubHandler = () => oauthError('invalid_request');

  private constructor(private readonly server: http.Server, readonly origin: string) {}

  static async start(options: { tls?: KeyPair } = {}): Promise<TokenEndpointStub> {
    let stub: TokenEndpointStub | undefined;
    const listener: http.RequestListener = (req, res) => {
      void stub?.answer(req, res);
    };
    const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener) : http.createServer(listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    stub = new TokenEndpointStub(server, `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`);
    return stub;
  }

  get tokenUrl(): string {
    return `${this.origin}/token`;
  }

  get deviceUrl(): string {
    return `${this.origin}/device`;
  }

  get authorizeUrl(): string {
    return `${this.origin}/authorize`;
  }

  queue(...answers: StubAnswer[]): this {
    this.queued.push(...answers);
    return this;
  }

  /** Requests to one path, e.g. `/token`. */
  to(path: string): StubRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Settings of a custom provider at this stub. */
  settings(overrides: Partial<OAuthSettings> = {}): OAuthSettings {
    return {
      provider: 'custom',
      tenant: 'common',
      grant: 'authorization-code',
      clientId: 'mailwire-test',
      clientSecret: '',
      authorizeUrl: this.authorizeUrl,
      tokenUrl: this.tokenUrl,
      deviceUrl: this.deviceUrl,
      scope: 'mail',
      ...overrides,
    };
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: StubRequest = {
      path: new URL(req.url ?? '/', this.origin).pathname,
      params: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
    };
    this.requests.push(request);
    const answer = this.queued.shift() ?? (await this.handler(request));
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (res.destroyed) return;
    if (answer.reset) {
      req.socket.destroy();
      return;
    }
    const isJson = answer.json !== undefined;
    res.writeHead(answer.status ?? 200, {
      'content-type': isJson ? 'application/json' : (answer.contentType ?? 'text/html'),
      'cache-control': 'no-store',
    });
    res.end(isJson ? JSON.stringify(answer.json) : (answer.text ?? ''));
  }
}

/** A loopback port nothing listens on (taken, then let go). */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
