// An ordinary app using the official openai SDK, with no knowledge of okv:
// it reads OPENAI_API_KEY and OPENAI_BASE_URL from its environment like any
// app does. The e2e script runs it as `okv run --proxy -- node client.mjs`.
import OpenAI, { toFile } from 'openai';
import { writeFileSync } from 'node:fs';

// Leave the child's whole environment for the test to search for the real key.
writeFileSync(process.env.E2E_ENV_DUMP ?? 'child-env.json', JSON.stringify(process.env));

const client = new OpenAI({ maxRetries: 0 });

const chat = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
});
console.log('chat:', chat.choices[0].message.content, 'tokens:', chat.usage.total_tokens);

const stream = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Count to three' }],
  stream: true,
  stream_options: { include_usage: true },
});
let text = '';
let usage = null;
for await (const chunk of stream) {
  if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
  if (chunk.usage) usage = chunk.usage;
}
console.log('stream:', text, 'tokens:', usage?.total_tokens);

// As most apps stream: no stream_options. okv asks for the usage itself
// and keeps the usage chunk from the app, which sees none.
const plain = await client.chat.completions.create({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Count to three' }],
  stream: true,
});
let ptext = '';
let pusage = 'none';
for await (const chunk of plain) {
  if (chunk.choices.length > 0) ptext += chunk.choices[0].delta.content ?? '';
  else pusage = 'an empty-choices chunk?!';
  if (chunk.usage) pusage = chunk.usage.total_tokens;
}
console.log('plain stream:', ptext, 'usage seen by the app:', pusage);

const emb = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'okv' });
console.log('embedding:', emb.data[0].embedding.length, 'dims', 'tokens:', emb.usage.total_tokens);

const rstream = await client.responses.create({ model: 'gpt-4o-mini', input: 'Count to two', stream: true });
let rtext = '';
let rusage = null;
for await (const event of rstream) {
  if (event.type === 'response.output_text.delta') rtext += event.delta;
  if (event.type === 'response.completed') rusage = event.response.usage;
}
console.log('responses stream:', rtext, 'tokens:', rusage?.total_tokens);

const file = await client.files.create({ file: await toFile(Buffer.from('{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[]}}\n'), 'data.jsonl'), purpose: 'batch' });
console.log('file:', file.id, file.bytes, 'bytes', file.purpose);

try {
  await client.chat.completions.create({ model: 'gpt-4.5-preview', messages: [{ role: 'user', content: 'x' }] });
  console.log('forbidden model: allowed?!');
} catch (e) {
  console.log('forbidden model:', e.status, e.code ?? e.error?.code);
}
