import net from 'node:net';

type SocketCallback = (err: Error | null, socketOptions?: { connection: net.Socket }) => void;

/**
 * nodemailer with `requireTLS` sends STARTTLS even when the server's EHLO reply does not offer
 * it. Where a man in the middle stripped the offer, that still upgrades when the server plays
 * along, but it means a downgrade goes unnoticed. We fail instead: this connects the socket
 * for nodemailer and watches the server's first 250 reply (the answer to EHLO); without
 * STARTTLS in it the socket is destroyed before anything else, AUTH included, can be sent.
 */
export function startTlsGuardedSocket(
  connectTimeoutMs: number,
  /** Told of each refusal: nodemailer's pool reports a closed connection with its own error. */
  onRefused: () => void = () => undefined,
): (options: { host?: string; port?: number }, callback: SocketCallback) => void {
  return (options, callback) => {
    const socket = net.connect({ host: options.host, port: options.port ?? 587 });
    let connected = false;
    const fail = (err: Error): void => {
      socket.destroy();
      if (!connected) callback(err);
    };
    socket.setTimeout(connectTimeoutMs, () => fail(Object.assign(new Error('connection timeout'), { code: 'ETIMEDOUT' })));
    socket.once('error', (err) => {
      if (!connected) fail(err);
    });
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      callback(null, { connection: socket });
      // After nodemailer's own reader is attached (it does that in a setImmediate of its own).
      setImmediate(() => socket.prependListener('data', watch));
    });
    let text = '';
    const watch = (chunk: Buffer): void => {
      text += chunk.toString('latin1');
      // The EHLO reply is the first 250 reply; it is complete at its "250 " (space) line.
      const reply = /^250[ -][^\n]*\n(?:250[ -][^\n]*\n)*/m.exec(text);
      if (!reply || !/^250 [^\n]*\n/m.test(reply[0])) {
        if (text.length > 64 * 1024) socket.removeListener('data', watch);
        return;
      }
      socket.removeListener('data', watch);
      if (!/^250[ -]STARTTLS\b/im.test(reply[0])) {
        onRefused();
        socket.destroy(Object.assign(new Error('the server did not offer STARTTLS'), { code: 'STARTTLS_UNAVAILABLE' }));
      }
    };
  };
}
