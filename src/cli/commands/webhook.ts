import { type Command, Option } from 'commander';
import type { App } from '../../app/app.js';
import { defaultProfileOf } from '../../domain/merchants/profiles.js';
import type { Principal } from '../../domain/shared/principal.js';
import { createWebhookEndpoint, deleteWebhookEndpoint, listWebhookEndpoints } from '../../domain/webhooks/webhooks.js';
import { lower, print, withApp } from '../shared.js';

/**
 * The operator acting for a merchant and mode (audited as `cli`). Endpoints belong to the merchant and mode,
 * not to a profile: the principal is unscoped, in the merchant's default profile.
 */
async function operator(app: App, merchantId: string, mode: string): Promise<Principal> {
  // NotFound for an unknown merchant.
  const profileId = await defaultProfileOf(app, merchantId);
  return {
    merchantId,
    mode: mode === 'live' ? 'LIVE' : 'TEST',
    keyId: 'cli',
    kind: 'SECRET',
    allowReveal: false,
    requestId: `cli-${process.pid}`,
    profileId,
  };
}

const modeOption = () => new Option('--mode <mode>', 'test or live').argParser(lower(['test', 'live'])).makeOptionMandatory();

/** `webhook create|list|delete`: a merchant's webhook endpoints. */
export function registerWebhook(program: Command): void {
  const webhook = program.command('webhook').description("a merchant's webhook endpoints");
  webhook
    .command('create')
    .description('add an endpoint; prints its whsec_ signing secret (shown once)')
    .requiredOption('--merchant <id>', 'merchant id')
    .addOption(modeOption())
    .requiredOption('--url <url>', 'https in live mode; test mode also takes http and loopback')
    .option('--events <names>', 'comma-separated event names, or *', '*')
    .option('--json', 'print one JSON object')
    .action(async (opts: { merchant: string; mode: string; url: string; events: string; json?: boolean }) => {
      const created = await withApp(async (app) => {
        return createWebhookEndpoint(app, await operator(app, opts.merchant, opts.mode), {
          url: opts.url,
          events: opts.events.split(',').map((e) => e.trim()),
        });
      });
      print(
        created,
        opts.json,
        () =>
          `endpoint ${created.endpoint.id}\nurl      ${created.endpoint.url}\nevents   ${created.endpoint.events.join(',')}\nsecret   ${created.secret}\n(the secret is shown only once)`,
      );
    });
  webhook
    .command('list')
    .description("list a merchant's endpoints in one mode (never their secrets)")
    .requiredOption('--merchant <id>', 'merchant id')
    .addOption(modeOption())
    .option('--json', 'print one JSON array')
    .action(async (opts: { merchant: string; mode: string; json?: boolean }) => {
      const endpoints = await withApp(async (app) => {
        return listWebhookEndpoints(app, await operator(app, opts.merchant, opts.mode));
      });
      print(endpoints, opts.json, () =>
        endpoints.length === 0 ? 'no endpoints' : endpoints.map((e) => `${e.id}  ${e.url}  ${e.events.join(',')}`).join('\n'),
      );
    });
  webhook
    .command('delete')
    .description('delete an endpoint; its pending deliveries are dropped')
    .argument('<endpointId>', 'endpoint id (we_…)')
    .requiredOption('--merchant <id>', 'merchant id')
    .addOption(modeOption())
    .option('--json', 'print one JSON object')
    .action(async (endpointId: string, opts: { merchant: string; mode: string; json?: boolean }) => {
      const deleted = await withApp(async (app) => deleteWebhookEndpoint(app, await operator(app, opts.merchant, opts.mode), endpointId));
      print(deleted, opts.json, () => `deleted ${deleted.deletedId}`);
    });
}
