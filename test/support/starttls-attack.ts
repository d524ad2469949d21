// A StartTLS man in the middle: a FaultProxy in front of a real IMAP, POP3 or SMTP server, set up
// to attack the upgrade to TLS while the session is in plain text:
//   strip   - remove the StartTLS offer (IMAP greeting/CAPABILITY, POP3 CAPA, SMTP EHLO), as a
//             downgrade attacker would, and also remove LOGINDISABLED so that a client that fails
//             open would really log in;
//   refuse  - answer the client's STARTTLS/STLS itself with an error (the server never sees it);
//   preauth - (IMAP) turn the server's "* OK" greeting into "* PREAUTH";
//   none    - change nothing (a control: proves the proxy itself is transparent, TLS included).
// Everything the client sent is kept (proxy.clientText), and so is everything it was told
// (proxy.toClientText), to check that the attack took. A STARTTLS the proxy lets through turns the
// connection raw (FaultProxy's setRaw), so the TLS handshake passes untouched.
import type { FaultProxy, ProxyConnection } from './fault-proxy';

export type MitmProtocol = 'imap' | 'pop3' | 'smtp';
export type Attack = 'strip' | 'refuse' | 'preauth' | 'none';

const STARTTLS_COMMAND: Record<MitmProtocol, RegExp> = {
  imap: /^(\S+) STARTTLS\s*$/i,
  pop3: /^STLS\s*$/i,
  smtp: /^STARTTLS\s*$/i,
};

const REFUSAL: Record<MitmProtocol, (tag: string) => string> = {
  imap: (tag) => `${tag} NO [ALERT] STARTTLS refused by the man in the middle\r\n`,
  pop3: () => '-ERR STLS refused by the man in the middle\r\n',
  smtp: () => '454 4.7.0 TLS not available due to local problem\r\n',
};

type Rewrite = NonNullable<FaultProxy['rewriteServerLine']>;

/** IMAP: the capability lists without STARTTLS and LOGINDISABLED. */
const stripImap: Rewrite = (line) => (/CAPABILITY/i.test(line) ? line.replace(/ STARTTLS\b/gi, '').replace(/ LOGINDISABLED\b/gi, '') : line);

/** POP3: the CAPA listing has one capability per line. */
const stripPop3: Rewrite = (line) => (/^STLS\s*$/i.test(line) ? null : line);

/** SMTP: whole replies, so the last line can be renumbered when STARTTLS was the last one. */
function stripSmtp(): Rewrite {
  const pending = new WeakMap<ProxyConnection, string[]>();
  return (line, connection) => {
    const reply = [...(pending.get(connection) ?? []), line];
    if (/^\d{3}-/.test(line)) {
      pending.set(connection, reply);
      return null;
    }
    pending.delete(connection);
    const kept = reply.filter((l) => !/^250[ -]STARTTLS\s*$/i.test(l));
    if (kept.length === 0) return null;
    // The last line of a reply has a space after the code.
    kept[kept.length - 1] = kept[kept.length - 1].replace(/^(\d{3})-/, '$1 ');
    return kept.join('\r\n');
  };
}

/** IMAP: the first line of each connection, the greeting, says PREAUTH. */
function preauth(): Rewrite {
  const greeted = new WeakSet<ProxyConnection>();
  return (line, connection) => {
    if (greeted.has(connection)) return line;
    greeted.add(connection);
    return line.replace(/^\* OK /, '* PREAUTH ');
  };
}

/** Sets `proxy` up as a man in the middle making `attack` on `protocol`; returns it. */
export function startTlsAttack(proxy: FaultProxy, protocol: MitmProtocol, attack: Attack): FaultProxy {
  if (attack === 'preauth' && protocol !== 'imap') throw new Error('a PREAUTH greeting is an IMAP attack');
  proxy.keepToClient = true;
  if (attack === 'none') return proxy;
  proxy.onClientLine = (line, connection) => {
    const upgrade = STARTTLS_COMMAND[protocol].exec(line);
    if (!upgrade) return true;
    if (attack === 'refuse') {
      connection.answer(REFUSAL[protocol](upgrade[1] ?? ''));
      return false;
    }
    // It goes to the server, and what follows is TLS.
    connection.setRaw();
    return true;
  };
  if (attack === 'preauth') proxy.rewriteServerLine = preauth();
  if (attack === 'strip') proxy.rewriteServerLine = protocol === 'imap' ? stripImap : protocol === 'pop3' ? stripPop3 : stripSmtp();
  return proxy;
}
