import os from 'node:os';
import path from 'node:path';
import type { NodeAPI } from 'node-red';
import { DEFAULT_PORTS, toReceiveSettings } from '../lib/connection-options';
import type { ReceiveSettings } from '../lib/connection-options';
import { FileProgressStore } from '../lib/progress-store';
import { ReceiveService } from '../lib/receive/receive-service';
import { validateReceive } from '../lib/validate-receive';
import type { ValidateOutcome } from '../lib/validate';
import { RECEIVE_CONNECTION_TYPE } from './shared/receive-connection-node';
import type { ReceiveConnectionNode } from './shared/receive-connection-node';
import { CONNECTION_CREDENTIALS, initConnection } from './shared/connection-node';
import { registerOAuthRoutes } from './shared/oauth-routes';
import { oauthPresetsForEditor } from './shared/oauth-presets-setting';
import type { ConnectionCredentials, ConnectionDef } from './shared/connection-node';
import { describeFailure } from './shared/describe-failure';
import { registerValidateRoute, sameServer } from './shared/validate-route';
import { userDirOf } from './shared/user-dir';

interface ReceiveConnectionDef extends ConnectionDef {
  protocol: string;
}

/** Where each Receive Email node's progress file lives: inside Node-RED's user directory, one file per node. */
function progressFile(RED: NodeAPI, nodeId: string): string {
  return path.join(userDirOf(RED), 'mailwire-state', `${nodeId.replace(/[^\w.-]/g, '_')}.json`);
}

export = function register(RED: NodeAPI): void {
  const describe = (code: string, details: Record<string, string>): string => describeFailure(RED, RECEIVE_CONNECTION_TYPE, code, details);

  function ReceiveConnection(this: ReceiveConnectionNode, def: ReceiveConnectionDef): void {
    initConnection(RED, this, def, { type: RECEIVE_CONNECTION_TYPE, toSettings: toReceiveSettings, protocolName: (s) => s.protocol.toUpperCase() });
    this.service = new ReceiveService({
      connectionId: this.id,
      settings: this.settings,
      progressStore: (nodeId) => new FileProgressStore(progressFile(RED, nodeId)),
      instanceName: `${os.hostname()}|${userDirOf(RED)}`,
    });
    this.on('close', (_removed: boolean, done: () => void) => {
      this.service.close().finally(() => done());
    });
  }

  RED.nodes.registerType<ReceiveConnectionNode, ReceiveConnectionDef, object, ConnectionCredentials>(RECEIVE_CONNECTION_TYPE, ReceiveConnection, {
    credentials: CONNECTION_CREDENTIALS,
    // The dialog's port follows these defaults; one table, served to the editor as RED.settings.*.
    settings: {
      mailwireReceiveConnectionDefaultPorts: { value: { imap: DEFAULT_PORTS.imap, pop3: DEFAULT_PORTS.pop3 }, exportable: true },
      // What choosing Google or Microsoft fills in: the core presets, the same table the runtime uses.
      mailwireReceiveConnectionOauthPresets: { value: oauthPresetsForEditor(), exportable: true },
    },
  });

  registerOAuthRoutes(RED, RECEIVE_CONNECTION_TYPE);

  registerValidateRoute<ReceiveSettings>(RED, {
    kind: 'receive',
    nodeType: RECEIVE_CONNECTION_TYPE,
    toSettings: (body, credentials) => toReceiveSettings(body, credentials),
    sameServer: (deployed, posted) => String(deployed.protocol) === String(posted.protocol) && sameServer(deployed, posted),
    validate: (settings) => validateReceive(settings),
    describe: (outcome: ValidateOutcome) =>
      outcome.ok
        ? RED._(`${RECEIVE_CONNECTION_TYPE}.validate.${outcome.folders ? 'ok-imap' : 'ok-pop3'}`, outcome.details)
        : describe(outcome.code, outcome.details),
  });
};
