/** Something done to an email on the server once it counts as handled. */
export type ServerAction =
  | { kind: 'seen' }
  | { kind: 'flag'; flag: string }
  | { kind: 'move'; folder: string }
  | { kind: 'delete' }
  /** shared: out of the claims folder into `folder`, with flags added and removed; reported as `as`. */
  | { kind: 'return'; folder: string; add: string[]; remove: string[]; as: 'seen' | 'flag' | 'none' | 'move' };

/** What happens to an email after success or failure: a server action, nothing, or (failure) a later retry. */
export type SettleAction = ServerAction | { kind: 'none' } | { kind: 'retry' };

export type SettleMode = 'emit' | 'ack';
export type SettleResult = 'success' | 'failure';

/** How a node settles the emails it emits (SPEC section 6). */
export interface SettlePolicy {
  /** emit: handled when emitted (success at once); ack: when an Email Done node says so. */
  mode: SettleMode;
  onSuccess: Exclude<SettleAction, { kind: 'retry' }>;
  onFailure: Exclude<SettleAction, { kind: 'delete' }>;
  /** ack: an email not acknowledged within this counts as failed. */
  ackTimeoutMs: number;
}

/** At most this many emits of one email in all (retry after failure), then it is reported and skipped. */
export const MAX_EMITS = 3;
export const DEFAULT_ACK_TIMEOUT_MS = 300_000;

/** The name an action goes by in msg.email.settled.action and in the flow file. */
export function actionName(action: SettleAction): Exclude<SettleAction['kind'], 'return'> {
  return action.kind === 'return' ? action.as : action.kind;
}

/** The flow-file properties that decide settling (SPEC "Contract, second stage"), as loose JSON. */
export interface SettleProperties {
  settle?: unknown;
  onSuccess?: unknown;
  successFolder?: unknown;
  successFlag?: unknown;
  onFailure?: unknown;
  failureFolder?: unknown;
  failureFlag?: unknown;
  ackTimeout?: unknown;
  unseenOnly?: unknown;
  pop3Delete?: unknown;
}

/** Why a settle setting cannot be used, as a key suffix; null when it can. */
export type PolicyProblem = 'success-folder' | 'failure-folder' | 'success-flag' | 'failure-flag' | 'pop3-action' | null;

const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');

/**
 * The policy a node's properties ask for. Absent properties mean what older flows did: settle on
 * emit; after success \Seen with Unseen Only (POP3: delete when pop3Delete), otherwise nothing;
 * after failure retry.
 */
export function settlePolicy(props: SettleProperties, protocol: 'imap' | 'pop3'): SettlePolicy {
  const unseenOnly = props.unseenOnly !== false;
  const fallbackSuccess: SettleAction['kind'] = protocol === 'pop3' ? (props.pop3Delete === true ? 'delete' : 'none') : unseenOnly ? 'seen' : 'none';
  const successKind = ['seen', 'move', 'delete', 'flag', 'none'].includes(text(props.onSuccess)) ? text(props.onSuccess) : fallbackSuccess;
  const failureKind = ['retry', 'seen', 'move', 'flag'].includes(text(props.onFailure)) ? text(props.onFailure) : 'retry';
  const seconds = Number(props.ackTimeout);
  return {
    mode: props.settle === 'ack' ? 'ack' : 'emit',
    onSuccess: action(successKind, text(props.successFolder), text(props.successFlag)) as SettlePolicy['onSuccess'],
    onFailure: action(failureKind, text(props.failureFolder), text(props.failureFlag)) as SettlePolicy['onFailure'],
    ackTimeoutMs: Number.isFinite(seconds) && seconds > 0 ? Math.round(seconds * 1000) : DEFAULT_ACK_TIMEOUT_MS,
  };
}

function action(kind: string, folder: string, flag: string): SettleAction {
  switch (kind) {
    case 'move':
      return { kind: 'move', folder };
    case 'flag':
      return { kind: 'flag', flag };
    case 'seen':
    case 'delete':
    case 'none':
    case 'retry':
      return { kind };
    default:
      return { kind: 'none' };
  }
}

/** IMAP system flags a user may set, and keywords as RFC 3501 atoms (no \, no specials). */
export function isSettableFlag(flag: string): boolean {
  if (/^\\(Seen|Answered|Flagged|Deleted|Draft)$/i.test(flag)) return true;
  return /^[^\s()\]{%*"\\\x00-\x1f\x7f]+$/.test(flag) && flag.length <= 100;
}

/**
 * A setting the connection cannot carry out, or null. POP3 can only delete or leave an email.
 * After failure matters only with settle ack: on emit nothing can fail, so it is not held against a node.
 */
export function policyProblem(policy: SettlePolicy, protocol: 'imap' | 'pop3'): PolicyProblem {
  const { onSuccess } = policy;
  const onFailure: SettleAction = policy.mode === 'ack' ? policy.onFailure : { kind: 'retry' };
  if (protocol === 'pop3') {
    const pop3Ok = (a: SettleAction): boolean => a.kind === 'delete' || a.kind === 'none' || a.kind === 'retry' || a.kind === 'seen';
    return pop3Ok(onSuccess) && pop3Ok(onFailure) ? null : 'pop3-action';
  }
  if (onSuccess.kind === 'move' && !onSuccess.folder) return 'success-folder';
  if (onFailure.kind === 'move' && !onFailure.folder) return 'failure-folder';
  if (onSuccess.kind === 'flag' && !isSettableFlag(onSuccess.flag)) return 'success-flag';
  if (onFailure.kind === 'flag' && !isSettableFlag(onFailure.flag)) return 'failure-flag';
  return null;
}

/** The result a message stands for: fixed by the Email Done node, or failure when a Catch node set msg.error (auto). */
export function resultOf(setting: string | undefined, msg: { error?: unknown }): SettleResult {
  if (setting === 'success' || setting === 'failure') return setting;
  return msg.error !== undefined && msg.error !== null ? 'failure' : 'success';
}
