// The official openai SDK with its default retries (2) against a spent
// daily budget: the proxy's refusal must end the call at once, not after
// a retry-after of hours. The harness counts the attempts in okv usage.
import OpenAI from 'openai';

const client = new OpenAI(); // default maxRetries
const ask = () => client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});

const first = await ask();
console.log('first:', first.usage.total_tokens, 'tokens');

// A stuck SDK (sleeping on retry-after) shows up as "stuck" rather than
// as a hung test.
const stuck = new Promise((resolve) => setTimeout(() => resolve('stuck'), 30000).unref());
const started = Date.now();
const second = await Promise.race([
  ask().then(() => 'allowed?!', (e) => `${e.status} ${e.code ?? e.error?.code}`),
  stuck,
]);
console.log('past the budget:', second);
// Default SDK backoff between retries is 0.5 s to 8 s; hours are a failure.
console.log('within seconds:', Date.now() - started < 10000 ? 'yes' : `no (${Date.now() - started} ms)`);
process.exit(0);
