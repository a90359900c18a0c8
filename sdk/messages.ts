import type { FieldErrorCode } from './format.js';

// The hosted fields' words in the merchant's language (`locale` option): labels, placeholders and error
// messages. English and German; anything else falls back to English.

interface Messages {
  number: string;
  expiry: string;
  expiryPlaceholder: string;
  cvc: string;
  errors: Record<FieldErrorCode, string>;
}

const MESSAGES: Record<'en' | 'de', Messages> = {
  en: {
    number: 'Card number',
    expiry: 'Expiry date',
    expiryPlaceholder: 'MM / YY',
    cvc: 'Security code',
    errors: {
      incomplete_number: 'Your card number is incomplete.',
      invalid_number: 'Your card number is invalid.',
      incomplete_expiry: "Your card's expiry date is incomplete.",
      invalid_expiry: "Your card's expiry date is invalid.",
      expired_card: 'Your card has expired.',
      incomplete_cvc: "Your card's security code is incomplete.",
    },
  },
  de: {
    number: 'Kartennummer',
    expiry: 'Ablaufdatum',
    expiryPlaceholder: 'MM / JJ',
    cvc: 'Prüfnummer',
    errors: {
      incomplete_number: 'Die Kartennummer ist unvollständig.',
      invalid_number: 'Die Kartennummer ist ungültig.',
      incomplete_expiry: 'Das Ablaufdatum ist unvollständig.',
      invalid_expiry: 'Das Ablaufdatum ist ungültig.',
      expired_card: 'Die Karte ist abgelaufen.',
      incomplete_cvc: 'Die Prüfnummer ist unvollständig.',
    },
  },
};

/** The messages for a BCP 47 tag (`de`, `de-AT`, `en-GB`; `auto` is the browser's language). */
export function messagesFor(locale: string | undefined, browserLanguage: string): Messages {
  const tag = !locale || locale === 'auto' ? browserLanguage : locale;
  return tag.toLowerCase().startsWith('de') ? MESSAGES.de : MESSAGES.en;
}

/** The language tag the iframe's document declares for the messages chosen. */
export function languageOf(messages: Messages): string {
  return messages === MESSAGES.de ? 'de' : 'en';
}
