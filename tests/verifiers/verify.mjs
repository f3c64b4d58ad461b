// Checks webhook requests with the providers' own Node libraries: Stripe's SDK
// (`webhooks.constructEvent`), `@octokit/webhooks-methods` (`verify`), `@shopify/shopify-api`
// (`webhooks.validate`, node adapter) and `standardwebhooks` (`Webhook#verify`).
//
// Reads a JSON array of cases on stdin, each `{scheme, secret, headers: [[name, value]...],
// body_base64}`, and writes one JSON array with one `{ok: true}` or `{ok: false, error}` per
// case, in order. Schemes it does not own (slack) are answered `{skipped: true}`.
import http from 'node:http';
import net from 'node:net';

import Stripe from 'stripe';
import { verify as octokitVerify } from '@octokit/webhooks-methods';
import '@shopify/shopify-api/adapters/node';
import { shopifyApi, ApiVersion, LogSeverity } from '@shopify/shopify-api';
import { Webhook } from 'standardwebhooks';

const stripe = new Stripe('sk_test_official_verifier');

function header(headers, name) {
  const found = headers.find(([k]) => k.toLowerCase() === name.toLowerCase());
  return found ? found[1] : undefined;
}

async function check({ scheme, secret, headers, body_base64 }) {
  const bytes = Buffer.from(body_base64, 'base64');
  switch (scheme) {
    case 'stripe': {
      // throws StripeSignatureVerificationError unless one v1 matches within 300 s
      stripe.webhooks.constructEvent(bytes, header(headers, 'stripe-signature') ?? '', secret);
      return;
    }
    case 'github': {
      const signature = header(headers, 'x-hub-signature-256');
      if (!signature) throw new Error('no X-Hub-Signature-256 header');
      if (!(await octokitVerify(secret, bytes.toString('utf8'), signature))) {
        throw new Error('@octokit/webhooks-methods verify returned false');
      }
      return;
    }
    case 'shopify': {
      const shopify = shopifyApi({
        apiKey: 'official-verifier',
        apiSecretKey: secret,
        apiVersion: ApiVersion.October24,
        hostName: 'localhost',
        isEmbeddedApp: false,
        logger: { level: LogSeverity.Error, log: () => {} },
      });
      const rawRequest = new http.IncomingMessage(new net.Socket());
      rawRequest.method = 'POST';
      rawRequest.url = '/webhooks';
      rawRequest.headers = Object.fromEntries(headers.map(([k, v]) => [k.toLowerCase(), v]));
      const rawResponse = new http.ServerResponse(rawRequest);
      const result = await shopify.webhooks.validate({
        rawBody: bytes.toString('utf8'),
        rawRequest,
        rawResponse,
      });
      if (!result.valid) {
        const missing = result.missingHeaders ? ` (missing ${result.missingHeaders.join(', ')})` : '';
        throw new Error(`webhooks.validate: ${result.reason}${missing}`);
      }
      return;
    }
    case 'standard-webhooks': {
      const lower = Object.fromEntries(headers.map(([k, v]) => [k.toLowerCase(), v]));
      // the signature alone: a body need not be JSON to be signed
      new Webhook(secret).verify(bytes, lower, { jsonParse: false });
      return;
    }
    default:
      return 'skipped';
  }
}

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const c of JSON.parse(input)) {
  try {
    results.push((await check(c)) === 'skipped' ? { skipped: true } : { ok: true });
  } catch (e) {
    results.push({ ok: false, error: String((e && e.message) || e) });
  }
}
process.stdout.write(JSON.stringify(results) + '\n');
