import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from 'node-red';
import { resultOf } from '../lib/settle/policy';
import { settleRegistry } from '../lib/settle/registry';

const TYPE = 'mailwire-email-done';

interface EmailDoneDef extends NodeDef {
  /** success, failure, or auto (failure when msg.error is set); absent = auto. */
  result?: string;
}

interface EmailRef {
  key?: unknown;
  connection?: unknown;
  settled?: unknown;
}

export = function register(RED: NodeAPI): void {
  const t = (key: string, values?: Record<string, string>): string => RED._(`${TYPE}.${key}`, values);

  function EmailDone(this: Node, def: EmailDoneDef): void {
    RED.nodes.createNode(this, def);
    this.on('input', (msg: NodeMessageInFlow, send, done) => {
      const email = (msg as { email?: EmailRef }).email;
      const key = typeof email?.key === 'string' ? email.key : '';
      if (!email || !key) {
        this.warn(t('warnings.no-key'));
        send(msg);
        done();
        return;
      }
      const result = resultOf(def.result, msg as { error?: unknown });
      const settling = settleRegistry.settle(key, result);
      if (!settling) {
        // settle emit: the email was handled when it was emitted; nothing is owed.
        if (!(typeof email.connection === 'string' && settleRegistry.isSettledOnEmit(email.connection))) {
          this.warn(t('warnings.unknown', { key }));
          this.status({ fill: 'yellow', shape: 'ring', text: t('status.unknown') });
        }
        send(msg);
        done();
        return;
      }
      settling.then((outcome) => {
        email.settled = { result, action: outcome.action, ok: outcome.ok };
        const values = { action: outcome.action, result: t(`result.${result}`) };
        this.status({ fill: outcome.ok ? 'green' : 'yellow', shape: 'dot', text: t(outcome.ok ? 'status.settled' : 'status.owed', values) });
        send(msg);
        done();
      }, done);
    });
  }

  RED.nodes.registerType(TYPE, EmailDone);
};
