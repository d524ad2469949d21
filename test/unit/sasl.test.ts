// The OAuth2 SASL messages (RFC 7628 OAUTHBEARER, Google's XOAUTH2) and the POP3 reader's
// handling of the `+ ` continuations an AUTH exchange brings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MailError } from '../../src/lib/mail-error';
import { errorChallengeReply, oauthBearerInitialResponse, parseErrorChallenge, xoauth2InitialResponse } from '../../src/lib/oauth/sasl';
import { Pop3FramingError, Pop3ResponseReader } from '../../src/lib/pop3/pop3-response-reader';

const decode = (base64: string): string => Buffer.from(base64, 'base64').toString('utf8');

describe('OAuth2 SASL messages', () => {
  it('XOAUTH2: user, bearer token, two ^A at the end', () => {
    assert.equal(decode(xoauth2InitialResponse('someone@example.test', 'ya29.token')), 'user=someone@example.test\x01auth=Bearer ya29.token\x01\x01');
  });

  it('OAUTHBEARER: GS2 header with the escaped user, host, port, token (RFC 7628 3.1)', () => {
    assert.equal(
      decode(oauthBearerInitialResponse('a,b=c@example.test', 'tok', 'mail.example.test', 995)),
      'n,a=a=2Cb=3Dc@example.test,\x01host=mail.example.test\x01port=995\x01auth=Bearer tok\x01\x01',
    );
  });

  it('refuses a control character in user or token without echoing the token', () => {
    assert.throws(() => xoauth2InitialResponse('x\x01auth=Bearer evil', 't'), (e: unknown) => e instanceof MailError && e.code === 'invalid-config');
    assert.throws(() => oauthBearerInitialResponse('u', 'secret\x01x', 'h', 1), (e: unknown) => e instanceof MailError && !e.message.includes('secret'));
  });

  it('the reply to an error challenge: empty for XOAUTH2, %x01 for OAUTHBEARER', () => {
    assert.equal(errorChallengeReply('XOAUTH2'), '');
    assert.equal(errorChallengeReply('OAUTHBEARER'), 'AQ==');
    assert.equal(decode(errorChallengeReply('OAUTHBEARER')), '\x01');
  });

  it('parses an error challenge, and returns null for anything else', () => {
    const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64');
    assert.deepEqual(parseErrorChallenge(b64({ status: 'invalid_token', scope: 'mail', 'openid-configuration': 'https://id.example.test/.well-known/openid-configuration' })), {
      status: 'invalid_token',
      scope: 'mail',
      openidConfiguration: 'https://id.example.test/.well-known/openid-configuration',
    });
    assert.deepEqual(parseErrorChallenge(b64({ status: 401, schemes: 'bearer' })), { status: '401' });
    assert.equal(parseErrorChallenge(''), null);
    assert.equal(parseErrorChallenge('not base64 json'), null);
    assert.equal(parseErrorChallenge(b64({ error: 'x' })), null);
  });
});

describe('POP3 reader and SASL continuations', () => {
  it('reads "+ " and "+ <base64>" as challenges only when an AUTH step expects them', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false, true);
    reader.expect(false, true);
    reader.expect(false, true);
    assert.deepEqual(reader.push(Buffer.from('+ \r\n+ eyJzdGF0dXMiOiI0MDEifQ==\r\n-ERR [AUTH] no\r\n')), [
      { ok: false, text: '', challenge: '' },
      { ok: false, text: '', challenge: 'eyJzdGF0dXMiOiI0MDEifQ==' },
      { ok: false, text: '[AUTH] no' },
    ]);
    reader.expect(false, true);
    assert.deepEqual(reader.push(Buffer.from('+OK logged in\r\n')), [{ ok: true, text: 'logged in' }]);
  });

  it('a "+ " line for any other command is still a framing error', () => {
    const reader = new Pop3ResponseReader();
    reader.expect(false);
    assert.throws(() => reader.push(Buffer.from('+ \r\n')), Pop3FramingError);
  });
});
