import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { MailError, classifyError } from '../lib/mail-error';
import { InputError, composeMail } from '../lib/smtp/outgoing-mail';
import type { Priority, TypedFields } from '../lib/smtp/outgoing-mail';
import { MAX_ADDRESSES } from '../lib/smtp/addresses';
import { SmtpRefusal } from '../lib/smtp/smtp-sender';
import type { SendResult } from '../lib/smtp/smtp-sender';
import type { SendConnectionNode } from './shared/send-connection-node';
import { SendStatus } from './shared/send-status';

const TYPE = 'mailwire-send-email';

interface SendEmailDef extends NodeDef, TypedFields {
  connection: string;
  priority: string;
}

/**
 * An Error for done(): Catch nodes get exactly the text (Node-RED shows err.toString(), and an
 * empty name leaves off the "Error: " prefix); flows can branch on `code`.
 */
function failure(message: string, code: string): Error {
  return Object.assign(new Error(message), { code, name: '' });
}

export = function register(RED: NodeAPI): void {
  function SendEmail(this: Node, def: SendEmailDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const t = (key: string, values?: Record<string, string | number>): string => RED._(`${TYPE}.${key}`, values);
    const connection = RED.nodes.getNode(def.connection) as SendConnectionNode | null;
    const typed: TypedFields = {
      from: String(def.from ?? ''),
      to: String(def.to ?? ''),
      cc: String(def.cc ?? ''),
      bcc: String(def.bcc ?? ''),
      subject: String(def.subject ?? ''),
      text: String(def.text ?? ''),
    };
    const priority: Priority = def.priority === 'input' ? 'input' : 'consumed';

    if (!connection) node.status({ fill: 'red', shape: 'ring', text: t('status.no-connection') });
    const status = new SendStatus(node, t);

    const inputErrorText = (err: InputError): string => {
      const details: Record<string, string> = { ...err.details };
      // "Email to" rather than "to": the name the user sees in the dialog.
      if (details.field && /^(from|to|cc|bcc|subject)$/.test(details.field)) details.field = t(`label.${details.field}`);
      if (err.key === 'bad-address') details.reason = t(`reasons.${details.reason}`, { max: MAX_ADDRESSES });
      if (err.key === 'bad-attachment') details.reason = t(`attachment-reasons.${details.reason}`);
      return t(`errors.${err.key}`, details);
    };

    node.on('input', (msg: NodeMessageInFlow, send, done) => {
      if (!connection) {
        done(failure(t('errors.no-connection'), 'no-connection'));
        return;
      }
      let mail;
      try {
        mail = composeMail(typed, msg as unknown as Record<string, unknown>, priority);
      } catch (err) {
        if (!(err instanceof InputError)) {
          done(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        status.refused(t('short.input'));
        done(failure(inputErrorText(err), err.key));
        return;
      }
      status.started();
      // A sender that cannot be made (a certificate that does not parse) fails this email like any
      // other failure, rather than throwing out of the input handler with the status left on "sending".
      new Promise<SendResult>((resolve) => resolve(connection.sender().send(mail)))
        .then(
          (result) => {
            (msg as unknown as Record<string, unknown>).sent = result;
            status.sent();
            if (result.rejected.length > 0) node.warn(t('errors.rejected', { recipients: result.rejected.join(', ') }));
            send(msg);
            done();
          },
          (err: unknown) => {
            if (err instanceof SmtpRefusal) {
              const key = err.permanent ? 'smtp' : 'smtp-transient';
              status.failed(String(err.responseCode));
              done(failure(t(`errors.${key}`, { code: String(err.responseCode), attempts: err.attempts }), key));
              return;
            }
            const problem = err instanceof MailError ? err : classifyError(err);
            status.failed(t(`short.${problem.code}`));
            done(failure(connection.describe(problem), problem.code));
          },
        );
    });
  }

  RED.nodes.registerType(TYPE, SendEmail);
};
