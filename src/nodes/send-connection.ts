import type { NodeAPI } from 'node-red';
import { DEFAULT_PORTS, toSendSettings } from '../lib/connection-options';
import type { SendSettings } from '../lib/connection-options';
import { SmtpSender } from '../lib/smtp/smtp-sender';
import type { ValidateOutcome } from '../lib/validate';
import { validateSend } from '../lib/validate-send';
import { describeFailure } from './shared/describe-failure';
import { SEND_CONNECTION_TYPE } from './shared/send-connection-node';
import type { SendConnectionNode } from './shared/send-connection-node';
import { CONNECTION_CREDENTIALS, initConnection } from './shared/connection-node';
import { registerOAuthRoutes } from './shared/oauth-routes';
import { oauthPresetsForEditor } from './shared/oauth-presets-setting';
import type { ConnectionCredentials, ConnectionDef } from './shared/connection-node';
import { registerValidateRoute, sameServer } from './shared/validate-route';


export = function register(RED: NodeAPI): void {
  const describe = (code: string, details: Record<string, string>): string => describeFailure(RED, SEND_CONNECTION_TYPE, code, details);

  function SendConnection(this: SendConnectionNode, def: ConnectionDef): void {
    initConnection(RED, this, def, { type: SEND_CONNECTION_TYPE, toSettings: toSendSettings, protocolName: () => 'SMTP' });
    let sender: SmtpSender | undefined;
    this.sender = () => {
      sender ??= new SmtpSender(this.settings());
      return sender;
    };
    this.on('close', (_removed: boolean, done: () => void) => {
      sender?.close();
      sender = undefined;
      done();
    });
  }

  RED.nodes.registerType<SendConnectionNode, ConnectionDef, object, ConnectionCredentials>(SEND_CONNECTION_TYPE, SendConnection, {
    credentials: CONNECTION_CREDENTIALS,
    settings: {
      mailwireSendConnectionDefaultPorts: { value: DEFAULT_PORTS.smtp, exportable: true },
      mailwireSendConnectionOauthPresets: { value: oauthPresetsForEditor(), exportable: true },
    },
  });

  registerOAuthRoutes(RED, SEND_CONNECTION_TYPE);

  registerValidateRoute<SendSettings>(RED, {
    kind: 'send',
    nodeType: SEND_CONNECTION_TYPE,
    toSettings: (body, credentials) => toSendSettings(body, credentials),
    sameServer,
    validate: (settings) => validateSend(settings),
    describe: (outcome: ValidateOutcome) => (outcome.ok ? RED._(`${SEND_CONNECTION_TYPE}.validate.ok`, outcome.details) : describe(outcome.code, outcome.details)),
  });
};
