import { isoTime } from './clock';
import { OpenIrError } from '../shared/errors';
import { versionRefusal, type VersionStanding } from '../shared/versionPolicy';

/** The control plane's refusals, worded once so the HTTP API and the admin CLI say the same thing. */
export const problems = {
  /** The version policy refuses this version (expired, or below the minimum): at registration and on the channel. */
  versionExpired: (standing: VersionStanding) => {
    const words = versionRefusal(standing);
    return new OpenIrError('VERSION_EXPIRED', words.message, { fix: words.fix });
  },
  irNotFoundByName: (name: string) =>
    new OpenIrError('IR_NOT_FOUND', `No integration runtime named '${name}' exists on this control plane.`, {
      fix: 'List the integration runtimes with `openir-control-plane ir list`.',
    }),
  irNotFoundInKey: () =>
    new OpenIrError(
      'IR_NOT_FOUND',
      'The integration runtime in this key does not exist on this control plane.',
      {
        fix: 'Check that the key comes from this control plane, or get a current key with `openir-control-plane ir keys <name>`.',
      },
    ),
  irExists: (name: string) =>
    new OpenIrError('IR_EXISTS', `An integration runtime named '${name}' already exists.`, {
      fix: 'Choose another name, or show its keys with `openir-control-plane ir keys <name>`.',
    }),
  invalidIrName: (name: string) =>
    new OpenIrError('INVALID_INPUT', `'${name}' is not a valid integration runtime name.`, {
      fix: 'Use 1 to 80 letters, digits, spaces, ".", "_" or "-", starting with a letter or digit.',
    }),
  invalidMaxNodes: (text: string) =>
    new OpenIrError('INVALID_INPUT', `--max-nodes must be a whole number from 1 to 100, not '${text}'.`),
  invalidSlot: (text: string) =>
    new OpenIrError('INVALID_INPUT', `--regenerate takes key1 or key2, not '${text}'.`),
  notInitialized: (dataDir: string) =>
    // No fix: the message is the fix. The first start records the endpoint and TLS pin every auth key carries.
    new OpenIrError(
      'CONTROL_PLANE_NOT_INITIALIZED',
      `Start the control plane once first: openir-control-plane serve --data ${dataDir}`,
    ),
  authKeyInvalid: () =>
    new OpenIrError('AUTH_KEY_INVALID', 'This authentication key is not valid for its integration runtime.', {
      fix: 'Copy key1 or key2 again with `openir-control-plane ir keys <name>` (a key is shown only when created or regenerated).',
    }),
  authKeyRevoked: (irName: string, revokedAtMs: number) =>
    new OpenIrError(
      'AUTH_KEY_REVOKED',
      `This authentication key was regenerated on ${isoTime(revokedAtMs)} and can no longer register nodes.`,
      {
        fix: `Get the current key with \`openir-control-plane ir keys ${irName}\` (or regenerate one with --regenerate key1|key2) and register again.`,
      },
    ),
  authKeyExpired: (irName: string, slot: string, expiredAtMs: number) =>
    new OpenIrError(
      'AUTH_KEY_EXPIRED',
      `This authentication key (${slot} of '${irName}') expired on ${isoTime(expiredAtMs)} and can no longer register nodes.`,
      {
        fix: `Ask the admin for a new key: \`openir-control-plane ir keys ${irName} --regenerate ${slot} --expires-in 30m\`, then register within that time.`,
      },
    ),
  authKeyUsed: (irName: string, slot: string, usedAtMs: number) =>
    new OpenIrError(
      'AUTH_KEY_USED',
      `This single-use authentication key (${slot} of '${irName}') already registered a node on ${isoTime(usedAtMs)}.`,
      {
        fix: `Ask the admin for a new key for this node: \`openir-control-plane ir keys ${irName} --regenerate ${slot} --single-use\`.`,
      },
    ),
  fingerprintMismatch: (irName: string, nodeName: string, given: string, actual: string | null) =>
    new OpenIrError(
      'SYNC_KEY_FINGERPRINT_MISMATCH',
      actual === null
        ? `Node '${nodeName}' has not reported a sync key yet, so it cannot be approved with --fingerprint ${given}.`
        : `Node '${nodeName}' reports the sync key ${actual}, not ${given}. It was not approved.`,
      {
        fix: `Compare with the fingerprint the node shows (its Home page or \`openir status\`). If they differ, do not approve it: another machine may have registered under that name (\`openir-control-plane ir reject ${irName} ${nodeName}\`).`,
      },
    ),
  notPending: (irName: string, nodeName: string) =>
    new OpenIrError(
      'INVALID_INPUT',
      `Node '${nodeName}' is approved and its sync key has not changed, so there is nothing to reject.`,
      {
        fix: `To take it out of the IR, remove it: \`openir-control-plane ir remove-node ${irName} ${nodeName}\`.`,
      },
    ),
  invalidJoinApproval: (text: string) =>
    new OpenIrError('INVALID_INPUT', `--join-approval takes required or auto, not '${text}'.`),
  invalidFingerprint: (text: string) =>
    new OpenIrError('INVALID_INPUT', `'${text}' is not a sync key fingerprint.`, {
      fix: 'Copy it as the node shows it: SHA256: followed by 43 characters.',
    }),
  nodeLimitReached: (irName: string, maxNodes: number) =>
    new OpenIrError(
      'NODE_LIMIT_REACHED',
      `The integration runtime '${irName}' already has ${maxNodes} node${maxNodes === 1 ? '' : 's'}, the most it allows.`,
      {
        fix: `Remove a node with \`openir-control-plane ir remove-node ${irName} <node>\`, or raise the limit with \`openir-control-plane ir update ${irName} --max-nodes N\`.`,
      },
    ),
  remoteAccessRequired: (irName: string, nodeNames: readonly string[]) =>
    new OpenIrError(
      'REMOTE_ACCESS_REQUIRED',
      `The integration runtime '${irName}' already has a node, and a second node can join only while every existing node has remote access from intranet enabled; ${nodeNames.map((n) => `'${n}'`).join(', ')} ${nodeNames.length === 1 ? 'has' : 'have'} it disabled.`,
      {
        fix: `Enable remote access on ${nodeNames.length === 1 ? 'that node' : 'those nodes'} (Settings → Remote access → Change, or \`openir remote-access enable --cert <thumbprint>\`), wait until it is Online again, then register this node. Nodes sync credentials with each other over it.`,
      },
    ),
  joinerNeedsRemoteAccess: (irName: string) =>
    new OpenIrError(
      'REMOTE_ACCESS_REQUIRED',
      `The integration runtime '${irName}' already has a node, so this node must join with remote access from intranet enabled: nodes sync credentials with each other over it.`,
      {
        fix: 'Tick "Enable remote access from intranet" on the Register page (or run `openir remote-access enable --cert <thumbprint>` before `openir register`), then register again.',
      },
    ),
  nodeNameTaken: (irName: string, nodeName: string) =>
    new OpenIrError(
      'NODE_NAME_TAKEN',
      `The integration runtime '${irName}' already has a node named '${nodeName}'.`,
      {
        fix: `Register this machine with another node name, or remove the old node first (\`openir-control-plane ir remove-node ${irName} ${nodeName}\`). If this machine is that node with its data lost, register with \`openir register --replace-node\` (unattended: OPENIR_REPLACE_NODE=1) to replace it.`,
      },
    ),
  nodeNotFound: (irName: string, nodeName: string) =>
    new OpenIrError(
      'NODE_NOT_FOUND',
      `The integration runtime '${irName}' has no node named '${nodeName}'.`,
      {
        fix: `List its nodes with \`openir-control-plane ir nodes ${irName}\`.`,
      },
    ),
  credentialRejected: () =>
    new OpenIrError(
      'NODE_CREDENTIAL_REJECTED',
      "The control plane does not recognise this node's credential.",
      {
        fix: 'The node may have been removed from its integration runtime; register it again with a current authentication key.',
      },
    ),
};
