import fs from 'node:fs/promises';
import { parseAuthKey, type AuthKey } from '../shared/authKey';
import { OpenIrError } from '../shared/errors';

/** A key is one line of about 200 characters; anything much larger is the wrong file. */
const MAX_KEY_FILE_BYTES = 4096;

/**
 * Reads an authentication key from a file (`openir register --key-file`,
 * `OPENIR_AUTH_KEY_FILE`), so the key never appears in a process's arguments.
 * Surrounding whitespace (an editor's trailing newline, CRLF) is dropped; the
 * key is checked before anything uses it, each failure naming the file.
 */
export async function readAuthKeyFile(file: string): Promise<{ authKey: string; key: AuthKey }> {
  let content: Buffer;
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
    if (stat.size > MAX_KEY_FILE_BYTES) {
      throw new OpenIrError(
        'AUTH_KEY_MALFORMED',
        `The key file ${file} is ${stat.size} bytes; an authentication key is one line of a few hundred characters.`,
        { fix: 'Put only the key (key1 or key2 from `openir-control-plane ir keys <name>`) in the file.' },
      );
    }
    content = await fs.readFile(file);
  } catch (error) {
    if (error instanceof OpenIrError) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EISDIR'
            ? 'it is not a regular file'
            : code;
    throw new OpenIrError('INVALID_INPUT', `The key file ${file} cannot be read: ${why}.`, {
      fix: 'Give the path of a file holding the key, readable by the user OpenIR runs as (and by no one else: chmod 600).',
      cause: error,
    });
  }
  const authKey = content.toString('utf8').trim();
  if (authKey === '') {
    throw new OpenIrError('AUTH_KEY_EMPTY', `The key file ${file} is empty.`, {
      fix: 'Write the key of your integration runtime into it (key1 or key2 from `openir-control-plane ir keys <name>`).',
    });
  }
  try {
    return { authKey, key: parseAuthKey(authKey) };
  } catch (error) {
    if (!(error instanceof OpenIrError)) throw error;
    // Same code, with the file named: the key itself is never repeated back.
    throw new OpenIrError(error.code, `${error.message.replace(/\.$/, '')} (in ${file}).`, {
      ...(error.fix ? { fix: error.fix } : {}),
    });
  }
}
