/**
 * The cause under a failure (a socket code, a PostgreSQL SQLSTATE, a MySQL
 * errno), found by walking the `cause` chain past our own coded errors: what
 * the generic DATA_STORE_* mapping (`dataStoreCodeFor`) needs, for Test
 * connection and for a job's failure alike.
 */
export function causeOf(error: unknown): string {
  for (let current = error, depth = 0; current && typeof current === 'object' && depth < 6; depth++) {
    const code: unknown = Reflect.get(current, 'code');
    if (typeof code === 'string' && !/^(DATA_|BLOB_|SFTP_|LOCAL_|CONTROL_PLANE_)/.test(code)) return code;
    const errno: unknown = Reflect.get(current, 'errno');
    if (typeof errno === 'number' && errno > 1000) return String(errno);
    current = Reflect.get(current, 'cause');
  }
  return '';
}
