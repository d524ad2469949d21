// What a server may say in the middle of our commands, injected into the real Dovecot's answers by
// the fault proxy, under the real Receive Email node: unsolicited FETCH responses (flags of other
// messages, with and without a UID; a flags-only update of a message we asked for; an unasked
// message with a body), EXPUNGE, VANISHED (EARLIER) and VANISHED, EXISTS and RECENT, during the
// size check, the body FETCH and the \Seen STORE; a STORE and a FETCH answered NO [EXPUNGEISSUED].
// None of them is an error and none becomes a message; a real protocol error (BAD) still is one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seenUids } from '../support/dovecot-admin';
import { imapTag } from '../support/fault-proxy';
import type { ProxyConnection } from '../support/fault-proxy';
import { nodeRedSuite } from '../support/node-red-suite';
import { Watch, connection, credentials, duplicates, errorLines, flow, receiver } from '../support/receive-watch';
import { appendMessages, serverInfo, simpleMessage, uniqueUser } from '../support/servers';
import { strictProcess } from '../support/strict-process';
import { sleep, until } from '../support/wait';

strictProcess();

const COUNT = 60;
const subjects = (prefix: string): string[] => Array.from({ length: COUNT }, (_, i) => `${prefix} ${String(i + 1).padStart(2, '0')}`);

/** The command line the node sent with this tag, on this connection. */
function commandOf(c: ProxyConnection, tag: string): string {
  const lines = c.clientText.split('\r\n');
  for (let i = lines.length - 1; i >= 0; i -= 1) if (imapTag(lines[i]) === tag) return lines[i];
  return '';
}

type Kind = 'size' | 'body' | 'store' | 'other';
function kindOf(command: string): Kind {
  // The size check: a SEARCH for the large ones among the new.
  if (/UID SEARCH UID \S+ LARGER/i.test(command)) return 'size';
  if (/UID FETCH \S+ \(UID (BODY|BINARY)\.PEEK\[\]/i.test(command)) return 'body';
  if (/UID STORE \S+ \+FLAGS/i.test(command)) return 'store';
  return 'other';
}

/** The first UID of a UID set such as "26:50" or "3,5,9". */
const firstUid = (command: string): number => Number((/UID (?:FETCH|STORE) (\d+)/i.exec(command) ?? [])[1] ?? 1);

const TAGGED = /^(\S+) (OK|NO|BAD)\b/;
const BODY_ITEM = /^\* \d+ FETCH \(UID (\d+) /;

/**
 * Everything the RFCs let a server send unasked while a command runs. `uid` is one the command
 * asked for (a flags-only update of it must not pass for the message).
 */
function chatter(uid: number): string[] {
  const unaskedBody = 'Subject: not asked for\r\n\r\nnot asked for\r\n';
  return [
    '* 1 FETCH (FLAGS (\\Seen \\Flagged))',
    '* 2 FETCH (UID 99999 FLAGS (\\Flagged))',
    `* 3 FETCH (UID ${uid} FLAGS (\\Seen))`,
    `* 4 FETCH (UID 99998 RFC822.SIZE ${unaskedBody.length} BODY[] {${unaskedBody.length}}\r\n${unaskedBody})`,
    '* VANISHED (EARLIER) 99990:99991',
    '* VANISHED 99992',
    '* 2 EXPUNGE',
    `* ${COUNT + 5} EXISTS`,
    '* 3 RECENT',
  ];
}

describe('untagged responses in the middle of our commands, under the Receive Email node', () => {
  const proxy = nodeRedSuite();

  async function drain(prefix: string, rewrite: (line: string, c: ProxyConnection) => string | null): Promise<{ watch: Watch; user: string; names: string[] }> {
    const watch = new Watch();
    const user = uniqueUser(prefix);
    const names = subjects(prefix);
    await appendMessages(user, names.map((s) => simpleMessage(s)));
    const p = await proxy(serverInfo().ports.imap);
    p.rewriteServerLine = rewrite;
    await watch.load(flow([connection('imap', p.port)], [receiver({ delay: 200, maxEmails: 25 })]), credentials(user));
    await until(() => new Set(watch.keys()).size >= COUNT, 20_000, `all ${COUNT} emitted`);
    await until(async () => (await seenUids(user)).seen.size === COUNT, 10_000, 'all read');
    await sleep(600); // more polls: a duplicate or an extra message would come now
    return { watch, user, names };
  }

  function assertExactlyOnce(watch: Watch, names: string[]): void {
    const sent = watch.allSent();
    assert.equal(sent.length, names.length, `${sent.length} messages for ${names.length} emails`);
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.deepEqual(sent.map((s) => s.msg.topic), names, 'the emails asked for, oldest first, and nothing else');
    assert.ok(sent.every((s) => typeof s.msg.email.uid === 'number' && String(s.msg.payload).trim() === `Body of ${s.msg.topic}`), 'each whole');
  }

  function assertQuiet(watch: Watch): void {
    assert.deepEqual(errorLines(), [], 'no [error] line');
    assert.deepEqual(watch.current().errors, []);
    assert.deepEqual(watch.current().warnings, []);
  }

  it('unsolicited FETCH, EXPUNGE, VANISHED, EXISTS and RECENT during the size check, the body FETCH and the STORE', async () => {
    const injected: Record<Kind, number> = { size: 0, body: 0, store: 0, other: 0 };
    const { watch, names } = await drain('chatter', (line, c) => {
      const item = BODY_ITEM.exec(line);
      // Before each real item too: a flags-only update of that very message.
      if (item) return `* 9 FETCH (UID ${item[1]} FLAGS (\\Flagged))\r\n${line}`;
      const tagged = TAGGED.exec(line);
      if (!tagged || tagged[2].toUpperCase() !== 'OK') return line;
      const command = commandOf(c, tagged[1]);
      const kind = kindOf(command);
      if (kind === 'other') return line;
      injected[kind] += 1;
      return [...chatter(firstUid(command)), line].join('\r\n');
    });
    assertExactlyOnce(watch, names);
    assertQuiet(watch);
    assert.ok(injected.size > 0 && injected.body > 0 && injected.store > 0, JSON.stringify(injected));
  });

  it('a \\Seen STORE answered NO [EXPUNGEISSUED]: no error, no email emitted twice', async () => {
    let refused = 0;
    const { watch, names } = await drain('storeno', (line, c) => {
      const tagged = TAGGED.exec(line);
      if (!tagged || refused >= 2 || kindOf(commandOf(c, tagged[1])) !== 'store') return line;
      refused += 1;
      return `${tagged[1]} NO [EXPUNGEISSUED] Some of the requested messages no longer exist`;
    });
    assert.equal(refused, 2);
    assertExactlyOnce(watch, names);
    assertQuiet(watch);
  });

  it('a body FETCH answered NO [EXPUNGEISSUED] after its data: what came is emitted, no error', async () => {
    let answered = 0;
    const { watch, names } = await drain('fetchno', (line, c) => {
      const tagged = TAGGED.exec(line);
      if (!tagged || answered >= 2 || kindOf(commandOf(c, tagged[1])) !== 'body') return line;
      answered += 1;
      return `${tagged[1]} NO [EXPUNGEISSUED] Some messages were expunged meanwhile`;
    });
    assert.equal(answered, 2);
    assertExactlyOnce(watch, names);
    assertQuiet(watch);
  });

  it('a real protocol error (BAD to the body FETCH) is still reported, once, and nothing is lost', async () => {
    let refused = 0;
    const { watch, user, names } = await drain('fetchbad', (line, c) => {
      const tagged = TAGGED.exec(line);
      if (!tagged || refused >= 1 || kindOf(commandOf(c, tagged[1])) !== 'body') return line;
      refused += 1;
      return `${tagged[1]} BAD Error in IMAP command UID FETCH: Invalid arguments`;
    });
    assert.equal(refused, 1);
    const recv = watch.current();
    assert.equal(recv.errors.length, 1, JSON.stringify(recv.errors));
    assert.ok(recv.statuses.some((s) => s.text === 'mailwire-receive-email.status.retrying'), 'the poll failed and was retried');
    assert.deepEqual(duplicates(watch.keys()), []);
    assert.deepEqual([...new Set(watch.allSent().map((s) => s.msg.topic))].sort(), names);
    assert.equal((await seenUids(user)).seen.size, COUNT);
  });
});
