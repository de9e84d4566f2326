/** Text as JSON, or null when it is empty or not JSON (an answer body that may be a proxy's HTML page, say). */
export function parseJsonOrNull(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}
