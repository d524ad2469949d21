// What a credential looks like on the wire, in every form IMAP, POP3 and SMTP clients send it,
// and the login commands themselves; used to grep what a proxy or a fake server received.
import { randomBytes } from 'node:crypto';

/** A password no server knows, unique per run, easy to grep for. */
export function sentinel(): string {
  return `S3ntinel-${randomBytes(6).toString('hex')}`;
}

/** The forms of `password` (and of the user's login) that a client could put on the wire. */
export function secretForms(user: string, password: string): string[] {
  const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
  return [
    password,
    b64(`\0${user}\0${password}`), // SASL PLAIN (IMAP AUTHENTICATE PLAIN, SMTP AUTH PLAIN)
    b64(`${user}\0${user}\0${password}`), // SASL PLAIN with an authorization id
    b64(password), // SASL LOGIN's second step
    b64(`user=${user}\x01auth=Bearer ${password}\x01\x01`), // XOAUTH2, for completeness
  ];
}

const LOGIN_COMMANDS: Array<[string, RegExp]> = [
  ['IMAP LOGIN', /^\S+ LOGIN\b/im],
  ['IMAP AUTHENTICATE', /\bAUTHENTICATE\b/i],
  ['POP3 USER', /^USER\b/im],
  ['POP3 PASS', /^PASS\b/im],
  ['POP3/SMTP AUTH', /^AUTH\b/im],
  ['POP3 APOP', /^APOP\b/im],
];

/** Every credential form and login command found in `text`; empty when the client kept them to itself. */
export function credentialTraces(text: string, user: string, password: string): string[] {
  const found: string[] = [];
  for (const form of secretForms(user, password)) if (text.includes(form)) found.push(`secret form ${JSON.stringify(form.slice(0, 12))}…`);
  for (const [name, pattern] of LOGIN_COMMANDS) if (pattern.test(text)) found.push(name);
  return found;
}
