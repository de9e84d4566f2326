import { z } from 'zod';
import { NodeNameSchema } from './controlPlaneApi';
import { RemoteAccessSettingsSchema } from './remoteAccess';

/** What `register` takes; the key itself is parsed by `authKey.ts` (the host checks it again). */
export const RegisterInputSchema = z
  .object({
    authKey: z.string().max(1024),
    nodeName: NodeNameSchema.optional(),
    /** Remote access from intranet to set up with the registration (Register page). */
    remoteAccess: RemoteAccessSettingsSchema.optional(),
    /** On a registered node: remove it from its control plane first, then register (back up first). */
    replace: z.boolean().optional(),
    /**
     * If the IR already has a node of this name (this machine, its data lost),
     * the control plane removes that node and registers this one in its place.
     */
    replaceNode: z.boolean().optional(),
  })
  .strict();
export type RegisterInput = z.infer<typeof RegisterInputSchema>;
