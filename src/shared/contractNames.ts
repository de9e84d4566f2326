/**
 * The names of every operation and event, without their schemas, for code
 * that must stay tiny (the sandboxed preload). `contract.ts` checks at compile
 * time that these lists and its tables have exactly the same names.
 */
export const OPERATION_NAME_LIST = [
  'getStatus',
  'register',
  'startService',
  'stopService',
  'restartService',
  'drain',
  'getLogs',
  'setLogLevel',
  'getProxy',
  'setProxy',
  'testProxy',
  'listCertificates',
  'listSystemCertificates',
  'inspectCertificate',
  'importCertificate',
  'createSelfSignedCertificate',
  'exportCertificate',
  'removeCertificate',
  'setCertificateTrust',
  'getRemoteAccess',
  'setRemoteAccess',
  'listCredentials',
  'setCredential',
  'deleteCredential',
  'testCredential',
  'getJobSettings',
  'allowFolder',
  'disallowFolder',
  'setConcurrentJobsLimit',
  'getJobs',
  'createBackup',
  'inspectBackup',
  'restoreBackup',
  'unregister',
] as const;

export const EVENT_NAME_LIST = [
  'statusChanged',
  'systemSampled',
  'log',
  'jobsChanged',
  'credentialsChanged',
  'proxyChanged',
  'remoteAccessChanged',
  'certificatesChanged',
  'jobSettingsChanged',
] as const;
