// An ordinary app calling several providers with their official SDKs, with
// no knowledge of okv: each SDK reads its key and base URL from the
// environment as it documents (OPENAI_*, ANTHROPIC_*, GEMINI_API_KEY and
// GOOGLE_GEMINI_BASE_URL, AZURE_OPENAI_* with OPENAI_API_VERSION). Groq is
// called with the openai SDK at GROQ_BASE_URL + '/openai/v1', as Groq
// documents for that SDK. The e2e script runs it as
// `okv run --proxy -- node providers.mjs SECTION...`.
import OpenAI, { AzureOpenAI } from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import { writeFileSync } from 'node:fs';

// Leave the child's whole environment for the test to search for real keys.
writeFileSync(process.env.E2E_ENV_DUMP ?? 'child-env.json', JSON.stringify(process.env));
const want = new Set(process.argv.slice(2));
const failed = (label, e) => console.log(`${label}:`, e.status ?? e.code, e.error?.error?.type ?? e.error?.type ?? e.message?.slice(0, 200));

if (want.has('openai')) {
  const client = new OpenAI({ maxRetries: 0 });
  const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello' }] });
  console.log('openai chat:', chat.choices[0].message.content, 'tokens:', chat.usage.total_tokens);
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Count' }], stream: true, stream_options: { include_usage: true },
  });
  let text = '', usage = null;
  for await (const c of stream) {
    if (c.choices.length > 0) text += c.choices[0].delta.content ?? '';
    if (c.usage) usage = c.usage;
  }
  console.log('openai stream:', text, 'tokens:', usage?.total_tokens);
}

if (want.has('anthropic')) {
  const client = new Anthropic({ maxRetries: 0 });
  const msg = await client.messages.create({ model: 'claude-3-5-haiku-20241022', max_tokens: 64, messages: [{ role: 'user', content: 'Hi' }] });
  console.log('anthropic message:', msg.content[0].text, 'in:', msg.usage.input_tokens, 'out:', msg.usage.output_tokens, 'cache read:', msg.usage.cache_read_input_tokens);
  const stream = client.messages.stream({ model: 'claude-3-5-haiku-20241022', max_tokens: 64, messages: [{ role: 'user', content: 'Count' }] });
  let text = '';
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  console.log('anthropic stream:', text, 'out:', final.usage.output_tokens);
  try {
    await client.messages.create({ model: 'claude-opus-4-1', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] });
    console.log('anthropic forbidden model: allowed?!');
  } catch (e) {
    failed('anthropic forbidden model', e);
  }
}

if (want.has('gemini')) {
  const ai = new GoogleGenAI({});
  const r = await ai.models.generateContent({ model: 'gemini-2.0-flash', contents: 'Hi' });
  console.log('gemini generate:', r.text, 'tokens:', r.usageMetadata.totalTokenCount);
  let text = '', total = 0;
  for await (const chunk of await ai.models.generateContentStream({ model: 'gemini-2.0-flash', contents: 'Count' })) {
    text += chunk.text ?? '';
    total = chunk.usageMetadata?.totalTokenCount ?? total;
  }
  console.log('gemini stream:', text, 'tokens:', total);
  try {
    await ai.models.generateContent({ model: 'gemini-2.5-pro', contents: 'x' });
    console.log('gemini forbidden model: allowed?!');
  } catch (e) {
    console.log('gemini forbidden model:', e.status, /PERMISSION_DENIED/.test(e.message) ? 'PERMISSION_DENIED' : e.message.slice(0, 200));
  }
}

if (want.has('groq')) {
  const client = new OpenAI({ baseURL: process.env.GROQ_BASE_URL + '/openai/v1', apiKey: process.env.GROQ_API_KEY, maxRetries: 0 });
  const chat = await client.chat.completions.create({ model: 'llama-3.1-8b-instant', messages: [{ role: 'user', content: 'Hi' }] });
  console.log('groq chat:', chat.choices[0].message.content, 'tokens:', chat.usage.total_tokens);
}

if (want.has('azure')) {
  const client = new AzureOpenAI({ maxRetries: 0 });
  const chat = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
  console.log('azure chat:', chat.choices[0].message.content, 'tokens:', chat.usage.total_tokens);
}
