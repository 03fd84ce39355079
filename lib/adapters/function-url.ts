// Lambda Function URL (payload 2.0) <-> our plain request and response.
import type { LambdaFunctionURLEvent, LambdaFunctionURLResult } from 'aws-lambda';
import type { HttpRequest, HttpResponse } from '../ports';

/** What we answer: always the object form of a Function URL result, every field set. */
export type FunctionUrlResponse = Required<
  Pick<Exclude<LambdaFunctionURLResult, string>, 'statusCode' | 'headers' | 'body'>
>;

export function fromFunctionUrl(event: LambdaFunctionURLEvent): HttpRequest {
  const headers: Record<string, string | undefined> = {};
  // The fallbacks stay for invocations that skip the URL (e.g. a console test event).
  for (const [name, value] of Object.entries(event.headers ?? {})) headers[name.toLowerCase()] = value;
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    headers,
    body: Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8'),
  };
}

export function toFunctionUrl(res: HttpResponse): FunctionUrlResponse {
  return {
    statusCode: res.status,
    headers: { 'content-type': 'application/json', ...res.headers },
    body: JSON.stringify(res.body),
  };
}
