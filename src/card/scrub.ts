import { maskIbans } from './bankAccount.js';
import { maskPans } from './pan.js';

/**
 * Free text with every card number and IBAN the detectors find masked to its last four (src/card/pan.ts,
 * src/card/bankAccount.ts): for whatever is logged, answered or stored as text without being input the vault
 * validated (error messages quoting input, a PSP's decline message, ids echoed back).
 */
export function scrubText(text: string): string {
  return maskIbans(maskPans(text));
}
