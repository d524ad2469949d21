// A scripted AccessTokenSource for the protocol clients' OAuth2 tests: hands out the given tokens
// in order, moving on only when the current one is refused, and records what it was asked.
import type { AccessTokenSource } from '../../src/lib/oauth/oauth-settings';

export class FakeTokenSource implements AccessTokenSource {
  /** Every token passed to refused(), in order. */
  readonly refusals: string[] = [];
  accessTokenCalls = 0;
  /** When set, accessToken() rejects with it (a provider that is down, a revoked grant). */
  failure: Error | undefined;
  private index = 0;

  constructor(private readonly tokens: readonly string[], private readonly delayMs = 0) {}

  get current(): string {
    return this.tokens[Math.min(this.index, this.tokens.length - 1)];
  }

  async accessToken(): Promise<string> {
    this.accessTokenCalls += 1;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    if (this.failure) throw this.failure;
    return this.current;
  }

  refused(token: string): boolean {
    this.refusals.push(token);
    if (token !== this.current) return false;
    this.index += 1;
    return true;
  }
}

/** A token-like string of `length` characters (base64url alphabet), distinct per `seed`. */
export function fakeToken(seed: string, length = 40): string {
  const unit = Buffer.from(seed).toString('base64url');
  return `${seed}.${unit.repeat(Math.ceil(length / unit.length))}`.slice(0, length);
}
