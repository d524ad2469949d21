// Certificates made by the test with openssl: a private CA and leaves for names of our choice,
// other self-signed certificates, expired ones.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface KeyPair {
  cert: string;
  key: string;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-certs-'));
let counter = 0;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

function files(): { cert: string; key: string } {
  counter += 1;
  return { cert: path.join(dir, `c${counter}.pem`), key: path.join(dir, `k${counter}.pem`) };
}

function read(f: { cert: string; key: string }): KeyPair {
  return { cert: fs.readFileSync(f.cert, 'utf8'), key: fs.readFileSync(f.key, 'utf8') };
}

export function selfSigned(name: string, options: { days?: number } = {}): KeyPair {
  const f = files();
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', String(options.days ?? 30), '-keyout', f.key, '-out', f.cert, '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`]);
  return read(f);
}

export interface Authority extends KeyPair {
  issue(name: string): KeyPair;
}

export function authority(name = 'Mailwire Test CA'): Authority {
  const f = files();
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-keyout', f.key, '-out', f.cert, '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  const ca = read(f);
  return {
    ...ca,
    issue(leafName: string): KeyPair {
      const leaf = files();
      const csr = `${leaf.cert}.csr`;
      openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', leaf.key, '-out', csr, '-subj', `/CN=${leafName}`]);
      const ext = `${leaf.cert}.ext`;
      fs.writeFileSync(ext, `subjectAltName=DNS:${leafName}\n`);
      openssl(['x509', '-req', '-in', csr, '-CA', f.cert, '-CAkey', f.key, '-CAcreateserial', '-out', leaf.cert, '-days', '30', '-extfile', ext]);
      return read(leaf);
    },
  };
}
