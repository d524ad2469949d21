import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  errorChallengeReply,
  oauthBearerInitialResponse,
  parseErrorChallenge,
  xoauth2InitialResponse,
} from '../../src/lib/oauth/sasl';

// RFC 7628 section 4.1 (successful bearer token exchange) and 4.3 (failed exchange).
const RFC_TOKEN = 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==';
const RFC_INITIAL_RESPONSE =
  'bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB';
const RFC_ERROR_CHALLENGE =
  'eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=';

describe('SASL bearer mechanisms', () => {
  it('OAUTHBEARER initial response matches RFC 7628 4.1 byte for byte', () => {
    assert.equal(oauthBearerInitialResponse('user@example.com', RFC_TOKEN, 'server.example.com', 143), RFC_INITIAL_RESPONSE);
  });

  it('OAUTHBEARER escapes , and = in the user name (RFC 5801 saslname)', () => {
    const decoded = Buffer.from(oauthBearerInitialResponse('a,b=c', 't', 'h', 1), 'base64').toString();
    assert.equal(decoded, 'n,a=a=2Cb=3Dc,\x01host=h\x01port=1\x01auth=Bearer t\x01\x01');
  });

  it('XOAUTH2 initial response: user, bearer token, two ^A at the end', () => {
    const decoded = Buffer.from(xoauth2InitialResponse('someone@example.com', 'ya29.token'), 'base64').toString();
    assert.equal(decoded, 'user=someone@example.com\x01auth=Bearer ya29.token\x01\x01');
  });

  it('reply to an error challenge: empty for XOAUTH2, %x01 for OAUTHBEARER', () => {
    assert.equal(errorChallengeReply('XOAUTH2'), '');
    assert.equal(errorChallengeReply('OAUTHBEARER'), 'AQ==');
  });

  it('parses the RFC 7628 4.3 error challenge', () => {
    assert.deepEqual(parseErrorChallenge(RFC_ERROR_CHALLENGE), { status: 'invalid_token', scope: 'example_scope' });
    const google = Buffer.from('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}').toString('base64');
    assert.deepEqual(parseErrorChallenge(google), { status: '401', schemes: 'bearer', scope: 'https://mail.google.com/' });
  });

  it('never throws on a challenge it cannot read', () => {
    for (const junk of ['', '!!!', Buffer.from('not json').toString('base64'), Buffer.from('[1]').toString('base64'), Buffer.from('null').toString('base64')]) {
      assert.equal(parseErrorChallenge(junk), undefined);
    }
    assert.deepEqual(parseErrorChallenge(Buffer.from('{"status":{"x":1}}').toString('base64')), {});
  });
});
