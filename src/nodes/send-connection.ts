import type { NodeAPI, NodeDef } from 'node-red';
import { DEFAULT_PORTS, toSendSettings } from '../lib/connection-options';
import type { SendSettings } from '../lib/connection-options';
import type { MailError } from '../lib/mail-error';
import { SmtpSender } from '../lib/smtp/smtp-sender';
import type { ValidateOutcome } from '../lib/validate';
import { validateSend } from '../lib/validate-send';
import { describeFailure } from './shared/describe-failure';
import { SEND_CONNECTION_TYPE } from './shared/send-connection-node';
import type { SendConnectionNode, SendCredentials } from './shared/send-connection-node';
import { registerValidateRoute, sameServer } from './shared/validate-route';

interface SendConnectionDef extends NodeDef {
  description: string;
  host: string;
  port: string | number;
  security: string;
  certificate: string;
}

export = function register(RED: NodeAPI): void {
  const describe = (code: string, details: Record<string, string>): string => describeFailure(RED, SEND_CONNECTION_TYPE, code, details);

  function SendConnection(this: SendConnectionNode, def: SendConnectionDef): void {
    RED.nodes.createNode(this, def);
    const config: Record<string, unknown> = { ...def };
    this.config = config;
    this.settings = () => toSendSettings(config, this.credentials ?? {});
    let sender: SmtpSender | undefined;
    this.sender = () => {
      sender ??= new SmtpSender(this.settings());
      return sender;
    };
    this.describe = (error: MailError) => {
      const s = this.settings();
      return describe(error.code, { host: s.host, port: String(s.port), protocol: 'SMTP', ...error.details });
    };
    this.on('close', (_removed: boolean, done: () => void) => {
      sender?.close();
      sender = undefined;
      done();
    });
  }

  RED.nodes.registerType<SendConnectionNode, SendConnectionDef, object, SendCredentials>(SEND_CONNECTION_TYPE, SendConnection, {
    credentials: { user: { type: 'text' }, password: { type: 'password' } },
    settings: { mailwireSendConnectionDefaultPorts: { value: DEFAULT_PORTS.smtp, exportable: true } },
  });

  registerValidateRoute<SendSettings>(RED, {
    kind: 'send',
    nodeType: SEND_CONNECTION_TYPE,
    toSettings: (body, credentials) => toSendSettings(body, credentials),
    sameServer,
    validate: (settings) => validateSend(settings),
    describe: (outcome: ValidateOutcome) => (outcome.ok ? RED._(`${SEND_CONNECTION_TYPE}.validate.ok`, outcome.details) : describe(outcome.code, outcome.details)),
  });
};
