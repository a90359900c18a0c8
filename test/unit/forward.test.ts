import { describe, expect, it } from 'vitest';
import { maskCardData } from '../../src/card/mask.js';
import { encoderFor, placeholdersIn, render } from '../../src/domain/forward/template.js';

describe('forwardRequest placeholders', () => {
  it('finds known placeholders and reports unknown ones under card. and networkToken. only', () => {
    const { known, unknown } = placeholdersIn('{{card.number}} {{ card.expYear }} {{card.nubmer}} {{networkToken.foo}} {{order.id}}');
    expect([...known]).toEqual(['card.number', 'card.expYear']);
    expect([...unknown]).toEqual(['card.nubmer', 'networkToken.foo']);
  });

  it('tells when {{card.cvc}} stands right next to a digit or another placeholder (review F3)', () => {
    for (const text of [
      '{{card.cvc}}{{card.expMonth}}',
      'x{{card.expYear}}{{ card.cvc }}',
      '4{{card.cvc}}',
      '{{card.cvc}}1',
      '{{card.cvc}}\\u0031',
      '\\u0031{{card.cvc}}',
      '%31{{card.cvc}}',
      '{{card.cvc}}%EF%BC%91',
      '{{card.cvc}}١',
      '{{card.cvc}}{{card.cvc}}',
      '{{card.cvc}}{{card.nosuch}}',
    ]) {
      expect(placeholdersIn(text).cvcGlued, text).toBe(true);
    }
    for (const text of [
      'x{{card.cvc}}/{{card.expMonth}}',
      '{"c":"{{card.cvc}}","m":"{{card.expMonth}}"}',
      'cvc={{card.cvc}}&n=1',
      '{{card.cvc}}',
    ]) {
      expect(placeholdersIn(text).cvcGlued, text).toBe(false);
    }
  });

  it('escapes values for JSON and form bodies, and leaves other text as it is', () => {
    const values = { 'card.holderName': 'Jane "J" O\'Brien & Co\\' };
    expect(render('{"name":"{{card.holderName}}","x":"{{order.id}}"}', values, encoderFor('application/json; charset=utf-8'))).toBe(
      '{"name":"Jane \\"J\\" O\'Brien & Co\\\\","x":"{{order.id}}"}',
    );
    expect(render('name={{card.holderName}}', values, encoderFor('application/x-www-form-urlencoded'))).toBe(
      "name=Jane%20%22J%22%20O'Brien%20%26%20Co%5C",
    );
    expect(render('<n>{{card.holderName}}</n>', values, encoderFor('text/xml'))).toBe('<n>Jane "J" O\'Brien & Co\\</n>');
    expect(JSON.parse(render('{"name":"{{card.holderName}}"}', values, encoderFor('application/vnd.api+json'))).name).toBe(
      values['card.holderName'],
    );
  });
});

describe('masking card data in upstream answers', () => {
  it('masks the numbers the vault sent, however they are formatted, keeping bin and last4', () => {
    const sent = '4111111111111111';
    expect(maskCardData(`{"pan":"${sent}","f":"4111 1111 1111 1111","g":"4111-1111-1111-1111","h":"x${sent}9"}`, [sent])).toBe(
      '{"pan":"411111******1111","f":"411111******1111","g":"411111******1111","h":"x411111******11119"}',
    );
  });

  it('masks any other Luhn-valid number in a card range, also followed by more digits', () => {
    expect(maskCardData('other 5555555555554444 and amex 378282246310005')).toBe('other 555555******4444 and amex 378282*****0005');
    // Digits that continue the run are masked with it (here the expiry): what follows a card number is as
    // likely part of a longer card-bearing run as anything else.
    expect(maskCardData('pan 4242 4242 4242 4242 12/30')).toBe('pan 424242**********1230');
  });

  it('leaves timestamps, ids and non-Luhn numbers alone, not card numbers glued to letters', () => {
    const text = '{"created":1732200000000,"ms":1732200000001234,"order":"4111111111111112","id":"ch_3N7k"}';
    expect(maskCardData(text)).toBe(text);
    expect(maskCardData('{"ref":"ABC4111111111111111"}')).toBe('{"ref":"ABC411111******1111"}');
  });

  it('masks CVC-named fields in JSON and forms', () => {
    expect(maskCardData('{"cvc":"123","card_cvv": 4567,"security_code":"999","amount":123}')).toBe(
      '{"cvc":"***","card_cvv": ***,"security_code":"***","amount":123}',
    );
    expect(maskCardData('cvc=123&cvv2=456&qty=123')).toBe('cvc=***&cvv2=***&qty=123');
  });
});
