import { PROVIDER_PRESETS } from '../../lib/oauth/presets';
import type { MailUse, ServerPreset } from '../../lib/oauth/presets';

/** What the dialog fills in when a provider is chosen. */
export interface EditorPreset {
  /** Per use (imap, pop3, smtp), for a user signing in. */
  delegatedScope: Record<MailUse, string>;
  /** For client credentials; empty when the provider has none for mail. */
  appScope: string;
  servers: Record<MailUse, ServerPreset>;
}

/**
 * The core presets reduced to what the editor uses, exported to it as a Node-RED setting (as the
 * default ports are), so the dialog and the runtime never disagree. Endpoints stay on the runtime,
 * which resolves them from the provider and the tenant.
 */
export function oauthPresetsForEditor(): Record<string, EditorPreset> {
  const out: Record<string, EditorPreset> = {};
  for (const [name, preset] of Object.entries(PROVIDER_PRESETS)) {
    out[name] = { delegatedScope: { ...preset.delegatedScope }, appScope: preset.appScope, servers: { ...preset.servers } };
  }
  return out;
}
