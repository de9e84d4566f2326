export {
  CertificateStore,
  certificateKeyName,
  inspectCertificateOffline,
  type ServerCredentials,
  type ServingMaterial,
} from './store';
export { parseCertificateFile, type ParsedCertificate } from './parse';
export { describeCertificate } from './describe';
export { SystemTrust, TrustAnchors } from './trust';
export type { SelfSignedKeyType } from './selfSigned';
