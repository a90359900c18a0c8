import { readFileSync } from 'node:fs';

// The curl requests of a source document, as written: method, URL, headers and the body byte for byte
// (between the quotes of --data / --data-raw), so a test replays exactly what the document tells users to send.

export interface CurlRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
}

export function curlRequests(file: string): CurlRequest[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/```bash\n(curl [\s\S]*?)\n```/g)].map(([, command]) => parse(command!));
}

function parse(command: string): CurlRequest {
  const url = /curl (?:--location )?(?:--globoff )?(?:--request (\w+) )?'([^']+)'/.exec(command);
  if (!url) throw new Error(`no URL in ${command.slice(0, 80)}`);
  const headers: Record<string, string> = {};
  for (const [, name, value] of command.matchAll(/--header '([^:]+): ([^']*)'/g)) headers[name!.toLowerCase()] = value!;
  const data = /--data(?:-raw)? '([\s\S]*)'$/.exec(command.trim());
  const body = data?.[1];
  return { method: url[1] ?? (body === undefined ? 'GET' : 'POST'), url: url[2]!, headers, ...(body !== undefined && { body }) };
}
