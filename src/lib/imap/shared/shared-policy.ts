import type { ServerAction, SettlePolicy } from '../../settle/policy';
import { DONE_KEYWORD, claimKeyword } from './claims';

type Return = Extract<ServerAction, { kind: 'return' }>;

/**
 * The node's settle policy as it applies to an email in this instance's claims folder: what
 * would leave it in the source folder (seen, flag, none) puts it back there, marked done so that
 * no instance takes it again; move takes it on to its folder; the claim keyword goes in each
 * case. Delete acts in the claims folder; retry leaves it claimed, to be emitted again.
 */
export function sharedPolicy(policy: SettlePolicy, source: string, instanceId: string): SettlePolicy {
  const remove = [claimKeyword(instanceId)];
  const back = (add: string[], as: Return['as']): Return => ({ kind: 'return', folder: source, add: [...add, DONE_KEYWORD], remove, as });
  const translate = <A extends SettlePolicy['onSuccess'] | SettlePolicy['onFailure']>(action: A): A => {
    switch (action.kind) {
      case 'seen':
        return back(['\\Seen'], 'seen') as A;
      case 'flag':
        return back([action.flag], 'flag') as A;
      case 'none':
        return back([], 'none') as A;
      case 'move':
        return { kind: 'return', folder: action.folder, add: [] as string[], remove, as: 'move' } as Return as A;
      default:
        return action;
    }
  };
  return { ...policy, onSuccess: translate(policy.onSuccess), onFailure: translate(policy.onFailure) };
}
