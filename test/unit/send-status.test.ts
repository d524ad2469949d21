import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, NodeStatus } from 'node-red';
import { SendStatus } from '../../src/nodes/shared/send-status';

function fakeNode(): { node: Node; shown: string[] } {
  const shown: string[] = [];
  const node = { status: (s: NodeStatus) => shown.push(`${s.fill}:${s.text}`) } as unknown as Node;
  return { node, shown };
}

const t = (key: string, values?: Record<string, string | number>): string => (values?.reason ? `${key}(${values.reason})` : key);

describe('Send Email status line', () => {
  it('one "sending" per burst and one "sent" when its last email is answered', () => {
    const { node, shown } = fakeNode();
    const status = new SendStatus(node, t);
    for (let i = 0; i < 100; i += 1) status.started();
    for (let i = 0; i < 100; i += 1) status.sent();
    assert.deepEqual(shown, ['blue:status.sending', 'green:status.sent']);
  });

  it('a failure shows at once and stays until the next burst, even when later emails of its burst are sent', () => {
    const { node, shown } = fakeNode();
    const status = new SendStatus(node, t);
    status.started();
    status.started();
    status.started();
    status.sent();
    status.failed('550');
    status.sent();
    assert.deepEqual(shown, ['blue:status.sending', 'red:status.error(550)']);
    status.started();
    status.sent();
    assert.deepEqual(shown.slice(2), ['blue:status.sending', 'green:status.sent']);
  });

  it('refused input is a failure of the burst it falls into', () => {
    const { node, shown } = fakeNode();
    const status = new SendStatus(node, t);
    status.started();
    status.refused('input');
    status.sent();
    assert.deepEqual(shown, ['blue:status.sending', 'red:status.error(input)']);
    status.refused('input');
    status.started();
    status.sent();
    assert.deepEqual(shown.slice(2), ['red:status.error(input)', 'blue:status.sending', 'green:status.sent']);
  });
});
