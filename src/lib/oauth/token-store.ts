import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-file';

/*
 * Encrypted as Node-RED encrypts its credentials file, so the key the user already manages
 * (credentialSecret) protects these too: AES-256-CTR, the key the SHA-256 of the secret, a random
 * 16-byte IV written as 32 hex characters in front of the base64 ciphertext.
 */
const ALGORITHM = 'aes-256-ctr';
const IV_BYTES = 16;
const FILE_VERSION = 1;

interface TokenRecord {
  refreshToken: string;
  tokenUrl: string;
  clientId: string;
  savedAt: number;
}

function keyOf(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function encrypt(secret: string, record: TokenRecord): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, keyOf(secret), iv);
  return iv.toString('hex') + cipher.update(JSON.stringify(record), 'utf8', 'base64') + cipher.final('base64');
}

/** The record, or undefined for anything else: CTR has no integrity check, so a wrong key shows as text that is not our JSON. */
function decrypt(secret: string, sealed: string): TokenRecord | undefined {
  if (!/^[0-9a-f]{32}[A-Za-z0-9+/=]*$/.test(sealed)) return undefined;
  try {
    const decipher = createDecipheriv(ALGORITHM, keyOf(secret), Buffer.from(sealed.slice(0, IV_BYTES * 2), 'hex'));
    const text = decipher.update(sealed.slice(IV_BYTES * 2), 'base64', 'utf8') + decipher.final('utf8');
    const record = JSON.parse(text) as Partial<TokenRecord>;
    if (typeof record.refreshToken !== 'string' || typeof record.tokenUrl !== 'string' || typeof record.clientId !== 'string') return undefined;
    return { refreshToken: record.refreshToken, tokenUrl: record.tokenUrl, clientId: record.clientId, savedAt: Number(record.savedAt) || 0 };
  } catch {
    return undefined;
  }
}

/**
 * The newest refresh token of each connection node, where a restart without a deploy finds it
 * (the flow's credentials only change on a deploy, while providers rotate refresh tokens on use).
 * One file per node id. A record only counts for the token URL and client ID it was issued to, so
 * a connection pointed at another provider or app does not send it a stranger's refresh token.
 */
export class RefreshTokenStore {
  constructor(
    private readonly directory: string,
    /** Node-RED's credential secret, given by the adapter. */
    private readonly secret: string,
  ) {}

  private fileOf(id: string): string {
    // Node-RED ids are hex with a dot; anything else is hashed rather than trusted as a file name.
    const name = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,100}$/.test(id) ? id : createHash('sha256').update(id).digest('hex');
    return path.join(this.directory, `${name}.json`);
  }

  /** The saved refresh token, or undefined when there is none for this token URL and client ID, or the file cannot be read with this secret. */
  load(id: string, tokenUrl: string, clientId: string): string | undefined {
    let sealed: unknown;
    try {
      sealed = (JSON.parse(fs.readFileSync(this.fileOf(id), 'utf8')) as { $?: unknown }).$;
    } catch {
      return undefined;
    }
    if (typeof sealed !== 'string') return undefined;
    const record = decrypt(this.secret, sealed);
    if (!record || record.tokenUrl !== tokenUrl || record.clientId !== clientId) return undefined;
    return record.refreshToken;
  }

  async save(id: string, tokenUrl: string, clientId: string, refreshToken: string): Promise<void> {
    fs.mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const sealed = encrypt(this.secret, { refreshToken, tokenUrl, clientId, savedAt: Date.now() });
    writeFileAtomic(this.fileOf(id), JSON.stringify({ version: FILE_VERSION, $: sealed }), 0o600);
  }

  remove(id: string): void {
    fs.rmSync(this.fileOf(id), { force: true });
  }
}
