// An expired self-signed certificate. test/support/certificates.ts back-dates with
// `openssl x509 -not_before/-not_after`, which OpenSSL 3.0 (Debian 12) does not have; `openssl ca
// -selfsign -startdate/-enddate` does the same on every OpenSSL 1.1+ and 3.x.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { KeyPair } from '../support/certificates';

export function expiredSelfSigned(name: string): KeyPair {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailwire-expired-'));
  const file = (f: string): string => path.join(dir, f);
  fs.writeFileSync(file('index.txt'), '');
  fs.writeFileSync(file('serial'), '01\n');
  fs.writeFileSync(
    file('ca.cnf'),
    [
      '[ ca ]',
      'default_ca = dflt',
      '[ dflt ]',
      `database = ${file('index.txt')}`,
      `serial = ${file('serial')}`,
      `new_certs_dir = ${dir}`,
      'default_md = sha256',
      'policy = any',
      'copy_extensions = copy',
      'unique_subject = no',
      '[ any ]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  try {
    run(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('key.pem'), '-out', file('req.csr'), '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`]);
    run(['ca', '-batch', '-config', file('ca.cnf'), '-selfsign', '-keyfile', file('key.pem'), '-in', file('req.csr'), '-out', file('cert.pem'), '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-notext']);
    return { cert: fs.readFileSync(file('cert.pem'), 'utf8'), key: fs.readFileSync(file('key.pem'), 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
