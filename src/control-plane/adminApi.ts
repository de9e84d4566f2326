import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Server as HttpsServer } from 'node:https';
import { z } from 'zod';
import { ErrorBodySchema, OpenIrError } from '../shared/errors';
import { IrSummarySchema } from '../shared/controlPlaneApi';
import { IrStatusSchema } from '../shared/status';
import {
  approveNode,
  createIr,
  listIrs,
  rejectNode,
  removeNode,
  showKeys,
  showNodes,
  updateIr,
  type AdminSession,
  type CommandResult,
} from './admin';
import { createFactory, factoryTokens, listFactories } from './factoryCommands';
import { listDiagnostics, readDiagnosticsBundle } from './diagnostics';
import { drainNode, setVersionPolicy, showVersionPolicy } from './versionCommands';
import { parseDurationOption } from './duration';
import type { Principal } from './factories';
import { cancelJob, jobsTable, showJob, submitJob } from './jobCommands';
import { jobView } from './jobStore';
import { irShares, linkIr, linkViewOf, setMaxLinks, shareIr, unshareIr } from './sharing';
import { MAX_LINKS_CEILING } from './shareStore';
import { IrMetricsSchema, MetricsQuerySchema, type IrMetrics } from './monitoring';
import { problems } from './problems';
import { DEFAULT_MAX_NODES, MAX_NODES_CEILING } from './registry';
import { DEFAULT_FACTORY_ID, JOIN_APPROVALS, type IrRow } from './store';

export const ADMIN_API_PREFIX = '/api/v1/admin';
export const OPENAPI_PATH = '/api/v1/openapi.json';

/** Failed token checks one address may make in a window before it is refused outright. */
const FAILED_AUTH_LIMIT = 10;
const FAILED_AUTH_WINDOW_MS = 60_000;
const PAGE_DEFAULT = 50;
const PAGE_MAX = 500;

export interface AdminApiDeps {
  session: AdminSession;
  /** A job was queued or a cancel requested: the dispatcher acts on it now. */
  wakeJobs(): void;
  /** A drain was requested or the version policy changed: connected nodes are told now. */
  wakeChannels(): void;
  /** An IR's nodes changed (approved, removed): its nodes hear of it. */
  irChanged(irId: string): void;
  nowMs(): number;
  /** Monitoring: the metrics of an IR's nodes over the last `minutes` (see monitoring.ts). */
  irMetrics?(ir: IrRow, minutes: number | undefined): IrMetrics;
}

interface Call {
  principal: Principal;
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: unknown;
}

interface AdminRoute {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** OpenAPI form: `/irs/{name}`. */
  path: string;
  summary: string;
  tag: 'factories' | 'irs' | 'nodes' | 'jobs' | 'sharing' | 'monitoring' | 'versions' | 'diagnostics';
  body?: z.ZodType;
  query?: z.ZodType;
  response: z.ZodType;
  /** A file answered as its bytes (the route's handler returns a Download), not JSON. */
  responseType?: 'application/zip';
  status?: number;
  /** Only the instance-admin token may call it. */
  instanceAdmin?: boolean;
  handle(call: Call): unknown;
}

// ---- Schemas: request bodies are checked with these; the OpenAPI document is generated from them.

const Name = z.string().min(1).max(80);
const IrCreateSchema = z
  .object({
    name: Name,
    maxNodes: z.number().int().min(1).max(MAX_NODES_CEILING).optional(),
    joinApproval: z.enum(JOIN_APPROVALS).optional(),
    /** Instance admin only: the factory that owns the new IR (default `default`). */
    factory: Name.optional(),
  })
  .strict();
const IrUpdateSchema = z
  .object({
    maxNodes: z.number().int().min(1).max(MAX_NODES_CEILING).optional(),
    joinApproval: z.enum(JOIN_APPROVALS).optional(),
    /** A duration such as `7d`, or `off`. */
    expireOfflineAfter: z.string().max(20).optional(),
    /** The most linked IRs other factories may make of this IR (default 100). */
    maxLinks: z.number().int().min(1).max(MAX_LINKS_CEILING).optional(),
  })
  .strict();
const KeyRegenerateSchema = z
  .object({ expiresIn: z.string().max(20).optional(), singleUse: z.boolean().optional() })
  .strict();
const ApproveSchema = z.object({ fingerprint: z.string().max(200).optional() }).strict();
const JobSubmitSchema = z
  .object({
    ir: Name,
    source: z.string().min(1).max(4200),
    sink: z.string().min(1).max(4200),
    format: z.string().max(20).optional(),
    mode: z.string().max(20).optional(),
  })
  .strict();
const JobListQuerySchema = z
  .object({
    ir: Name.optional(),
    limit: z.coerce.number().int().min(1).max(PAGE_MAX).optional(),
    cursor: z
      .string()
      .regex(/^\d{1,15}$/)
      .optional(),
  })
  .strict();
const FactoryCreateSchema = z.object({ name: Name }).strict();
const ShareSchema = z.object({ factory: Name }).strict();
const LinkCreateSchema = z
  .object({
    /** The linked IR's name (unique on the control plane, like every IR name). */
    name: Name,
    /** The shared IR's resource ID: `factories/<factory>/integrationRuntimes/<ir>`. */
    sharedIr: z.string().min(1).max(200),
    /** Instance admin only: the factory the linked IR belongs to; a factory token links into its own. */
    factory: Name.optional(),
  })
  .strict();
const SharedNodeSchema = z.object({
  name: z.string(),
  status: z.string(),
  version: z.string(),
  runningJobs: z.number().int(),
  jobLimit: z.number().int(),
});
const LinkViewSchema = z.object({
  sharedIr: z.string(),
  state: z.enum(['Linked', 'Unshared']),
  reason: z.string().nullable(),
  sharedStatus: z.string().nullable(),
  nodes: z.array(SharedNodeSchema),
});
const SharesSchema = z.object({
  ir: z.string(),
  resourceId: z.string(),
  grants: z.array(z.object({ factory: z.string(), grantedAt: z.string() })),
  links: z.array(
    z.object({
      name: z.string(),
      factory: z.string(),
      state: z.enum(['Linked', 'Unshared']),
      linkedAt: z.string(),
    }),
  ),
  maxLinks: z.number().int(),
});

const IrEntrySchema = z.object({
  irId: z.string(),
  name: z.string(),
  factory: z.string(),
  status: z.string(),
  nodeCount: z.number().int(),
  maxNodes: z.number().int(),
  createdAt: z.string(),
});
const JobViewSchema = z
  .object({
    id: z.string(),
    ir: z.string(),
    state: z.string(),
    reason: z.string().nullable(),
    reasonCode: z.string().nullable(),
    dataStoreCode: z.string().nullable(),
  })
  .loose();
const AnyObject = z.object({}).loose();
const TokenSchema = z.object({ id: z.string(), name: z.string(), tokenId: z.string(), token: z.string() });
const TokenIssueSchema = z.object({ rotate: z.boolean().optional() }).strict();
const VersionPolicySetSchema = z
  .object({
    latest: z.string().min(1).max(40),
    /** Absent keeps the current minimum; `none` clears it. */
    minimum: z.string().min(1).max(40).optional(),
    /** `<version>=<YYYY-MM-DD>` each: that version is refused from that day, 00:00 UTC. */
    expires: z.array(z.string().max(60)).max(100).optional(),
  })
  .strict();
const DiagnosticsListQuerySchema = z.object({ ir: Name.optional() }).strict();

/** A request's body or query checked against its schema: INVALID_INPUT naming each field at fault. */
function checked<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const details = parsed.error.issues
    .map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`)
    .join('; ');
  throw new OpenIrError('INVALID_INPUT', `The request is not valid (${details}).`, {
    fix: `See the request schema in ${OPENAPI_PATH}.`,
  });
}

/** An answer with the text people read (what the admin CLI prints), sent for `Accept: text/plain`. */
class Rendered {
  constructor(readonly result: CommandResult) {}
}
const rendered = (result: CommandResult) => new Rendered(result);

/** An answer that is a file's bytes. */
class Download {
  constructor(
    readonly bytes: Buffer,
    readonly type: string,
    readonly fileName: string,
    readonly sha256: string,
  ) {}
}

// ---- Scoping: a factory's token sees its own IRs and their jobs; anything else is "not found".

function scopedIr(deps: AdminApiDeps, principal: Principal, name: string): IrRow {
  const ir = deps.session.store.findIrByName(name);
  if (!ir || (principal.factoryId !== null && ir.factoryId !== principal.factoryId)) {
    throw problems.irNotFoundByName(name);
  }
  return ir;
}

function visibleIrs(deps: AdminApiDeps, principal: Principal): IrRow[] {
  return deps.session.store
    .listIrs()
    .filter((ir) => principal.factoryId === null || ir.factoryId === principal.factoryId);
}

function scopedJob(deps: AdminApiDeps, principal: Principal, id: string): void {
  const job = deps.session.store.jobs.find(id);
  const ir = job ? deps.session.store.findIrById(job.irId) : null;
  if (!job || !ir || (principal.factoryId !== null && ir.factoryId !== principal.factoryId)) {
    throw new OpenIrError('JOB_NOT_FOUND', `There is no job ${id}.`, {
      fix: `List the jobs with GET ${ADMIN_API_PREFIX}/jobs.`,
    });
  }
}

/** A factory's own token may manage its own tokens; the instance admin any factory's. */
function ownFactory(deps: AdminApiDeps, principal: Principal, name: string): string {
  return deps.session.factories.byName(name, principal).name;
}

function factoryName(deps: AdminApiDeps, factoryId: string): string {
  return deps.session.factories.byId(factoryId)?.name ?? factoryId;
}

function routes(deps: AdminApiDeps): AdminRoute[] {
  const { session } = deps;
  return [
    {
      method: 'GET',
      path: '/factories',
      tag: 'factories',
      summary: 'List the data factories (instance admin).',
      instanceAdmin: true,
      response: z.object({ factories: z.array(AnyObject) }),
      handle: () => rendered(listFactories(session)),
    },
    {
      method: 'POST',
      path: '/factories',
      tag: 'factories',
      summary: 'Create a data factory and return its first API token, shown once (instance admin).',
      instanceAdmin: true,
      body: FactoryCreateSchema,
      response: TokenSchema,
      status: 201,
      handle: ({ body }) => rendered(createFactory(session, checked(FactoryCreateSchema, body).name)),
    },
    {
      method: 'GET',
      path: '/factories/{factory}/tokens',
      tag: 'factories',
      summary: "A factory's API tokens: ids and dates, never the secrets (its own token, or instance admin).",
      response: AnyObject,
      handle: ({ principal, params }) =>
        rendered(factoryTokens(session, ownFactory(deps, principal, params.factory ?? ''), {})),
    },
    {
      method: 'POST',
      path: '/factories/{factory}/tokens',
      tag: 'factories',
      summary: 'Issue a token, shown once; `rotate: true` also revokes all the others at once.',
      body: TokenIssueSchema,
      response: AnyObject,
      status: 201,
      handle: ({ principal, params, body }) => {
        const name = ownFactory(deps, principal, params.factory ?? '');
        const input = checked(TokenIssueSchema, body);
        return rendered(factoryTokens(session, name, input.rotate ? { rotate: true } : { add: true }));
      },
    },
    {
      method: 'DELETE',
      path: '/factories/{factory}/tokens/{id}',
      tag: 'factories',
      summary: 'Revoke one token; it stops working at once.',
      response: AnyObject,
      handle: ({ principal, params }) =>
        rendered(
          factoryTokens(session, ownFactory(deps, principal, params.factory ?? ''), {
            revoke: params.id ?? '',
          }),
        ),
    },
    {
      method: 'GET',
      path: '/irs',
      tag: 'irs',
      summary: "List the integration runtimes of the token's factory.",
      response: z.object({ irs: z.array(IrEntrySchema) }),
      handle: ({ principal }) => {
        const visible = new Set(visibleIrs(deps, principal).map((ir) => ir.id));
        return rendered(listIrs(session, (irId) => visible.has(irId)));
      },
    },
    {
      method: 'POST',
      path: '/irs',
      tag: 'irs',
      summary: 'Create an integration runtime; the answer holds its two auth keys, shown once.',
      body: IrCreateSchema,
      response: z.object({ irId: z.string(), name: z.string(), key1: z.string(), key2: z.string() }),
      status: 201,
      handle: ({ principal, body }) => {
        const input = checked(IrCreateSchema, body);
        let factoryId = principal.factoryId ?? DEFAULT_FACTORY_ID;
        if (input.factory !== undefined) {
          const named = deps.session.factories.byName(input.factory);
          if (principal.factoryId !== null && named.id !== principal.factoryId) {
            throw new OpenIrError('FORBIDDEN', 'A factory token creates IRs in its own factory only.', {
              fix: 'Leave out "factory", or use the instance-admin token.',
            });
          }
          factoryId = named.id;
        }
        return rendered(
          createIr(
            session,
            input.name,
            input.maxNodes ?? DEFAULT_MAX_NODES,
            input.joinApproval,
            factoryName(deps, factoryId),
          ),
        );
      },
    },
    {
      method: 'GET',
      path: '/irs/{name}',
      tag: 'irs',
      summary: 'One integration runtime: its status and nodes.',
      response: z.object({ factory: z.string(), summary: IrSummarySchema, link: LinkViewSchema.optional() }),
      handle: ({ principal, params }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        // A linked IR also shows its shared IR's nodes (status, version, load), read-only.
        const link = linkViewOf(session, ir);
        const summary = session.registry.summaryByName(ir.name);
        return {
          factory: factoryName(deps, ir.factoryId),
          // A linked IR has no nodes of its own: its status is its shared IR's, Offline once unshared.
          summary: link
            ? { ...summary, status: IrStatusSchema.catch('Offline').parse(link.sharedStatus) }
            : summary,
          ...(link ? { link } : {}),
        };
      },
    },
    {
      method: 'PATCH',
      path: '/irs/{name}',
      tag: 'irs',
      summary: 'Change an integration runtime: max nodes, join approval, expiry of Offline nodes.',
      body: IrUpdateSchema,
      response: AnyObject,
      handle: ({ principal, params, body }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const input = checked(IrUpdateSchema, body);
        let limited: CommandResult | null = null;
        if (input.maxLinks !== undefined) {
          limited = setMaxLinks(session, ir.name, input.maxLinks, principal.factoryId);
          if (Object.keys(input).length === 1) return rendered(limited);
        }
        const update = {
          ...(input.maxNodes === undefined ? {} : { maxNodes: input.maxNodes }),
          ...(input.joinApproval === undefined ? {} : { joinApproval: input.joinApproval }),
          ...(input.expireOfflineAfter === undefined
            ? {}
            : {
                expireOfflineAfterMs: parseDurationOption(
                  input.expireOfflineAfter,
                  'expireOfflineAfter',
                  'keep Offline nodes until you remove them',
                ),
              }),
        };
        const updated = updateIr(session, ir.name, update);
        return rendered(
          limited
            ? {
                json: { ...(updated.json as Record<string, unknown>), maxLinks: input.maxLinks },
                text: `${limited.text}\n${updated.text}`,
              }
            : updated,
        );
      },
    },
    {
      method: 'DELETE',
      path: '/irs/{name}',
      tag: 'irs',
      summary: 'Delete an integration runtime that has no nodes, with its keys and jobs.',
      response: z.object({ irId: z.string(), name: z.string(), deleted: z.literal(true) }),
      handle: ({ principal, params }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        return session.store.exclusive(() => {
          const nodes = session.store.nodesOf(ir.id).length;
          if (nodes > 0) {
            throw new OpenIrError('IR_NOT_EMPTY', `'${ir.name}' still has ${nodes} node(s).`, {
              fix: `Remove them first (DELETE ${ADMIN_API_PREFIX}/irs/{name}/nodes/{node}, or \`openir unregister\` on each node).`,
            });
          }
          session.store.deleteIr(ir.id);
          return { irId: ir.id, name: ir.name, deleted: true as const };
        });
      },
    },
    {
      method: 'POST',
      path: '/irs/{name}/keys/{slot}/regenerate',
      tag: 'irs',
      summary: 'Replace key1 or key2; the answer holds the new key, shown once.',
      body: KeyRegenerateSchema,
      response: AnyObject,
      handle: ({ principal, params, body }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const input = checked(KeyRegenerateSchema, body ?? {});
        const limits = {
          ...(input.expiresIn === undefined
            ? {}
            : { expiresInMs: parseDurationOption(input.expiresIn, 'expiresIn', 'no expiry') }),
          ...(input.singleUse === undefined ? {} : { singleUse: input.singleUse }),
        };
        return rendered(showKeys(session, ir.name, params.slot ?? '', limits));
      },
    },
    {
      method: 'GET',
      path: '/irs/{name}/keys',
      tag: 'irs',
      summary: 'When the two auth keys were made, and their limits; never the keys themselves.',
      response: AnyObject,
      handle: ({ principal, params }) =>
        rendered(showKeys(session, scopedIr(deps, principal, params.name ?? '').name, undefined)),
    },
    {
      method: 'GET',
      path: '/irs/{name}/nodes',
      tag: 'nodes',
      summary: "An integration runtime's nodes: status, approval, sync key, version, load.",
      response: AnyObject,
      handle: ({ principal, params }) =>
        rendered(showNodes(session, scopedIr(deps, principal, params.name ?? '').name)),
    },
    {
      method: 'POST',
      path: '/irs/{name}/nodes/{node}/approve',
      tag: 'nodes',
      summary: 'Approve a Pending node, optionally checking its sync key fingerprint.',
      body: ApproveSchema,
      response: AnyObject,
      handle: ({ principal, params, body }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const input = checked(ApproveSchema, body ?? {});
        const result = approveNode(session, ir.name, params.node ?? '', input.fingerprint);
        deps.irChanged(ir.id);
        // Jobs queued while no approved node had room can go to this one now.
        deps.wakeJobs();
        return rendered(result);
      },
    },
    {
      method: 'POST',
      path: '/irs/{name}/nodes/{node}/reject',
      tag: 'nodes',
      summary: 'Reject a Pending node: it is removed and never receives credentials.',
      response: AnyObject,
      handle: ({ principal, params }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const result = rejectNode(session, ir.name, params.node ?? '');
        deps.irChanged(ir.id);
        return rendered(result);
      },
    },
    {
      method: 'DELETE',
      path: '/irs/{name}/nodes/{node}',
      tag: 'nodes',
      summary: 'Remove a node from an integration runtime; its slot becomes free.',
      response: AnyObject,
      handle: ({ principal, params }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const result = removeNode(session, ir.name, params.node ?? '');
        deps.irChanged(ir.id);
        return rendered(result);
      },
    },
    {
      method: 'GET',
      path: '/irs/{name}/shares',
      tag: 'sharing',
      summary:
        'Who an IR is shared with, its linked IRs and their factories, its resource ID and link limit (owner).',
      response: SharesSchema,
      handle: ({ principal, params }) => rendered(irShares(session, params.name ?? '', principal.factoryId)),
    },
    {
      method: 'POST',
      path: '/irs/{name}/shares',
      tag: 'sharing',
      summary: 'Share an IR with another data factory, which may then link it (owner).',
      body: ShareSchema,
      response: AnyObject,
      handle: ({ principal, params, body }) => {
        const input = checked(ShareSchema, body);
        const result = shareIr(session, params.name ?? '', input.factory, principal.factoryId);
        deps.irChanged(scopedIr(deps, principal, params.name ?? '').id);
        return rendered(result);
      },
    },
    {
      method: 'DELETE',
      path: '/irs/{name}/shares/{factory}',
      tag: 'sharing',
      summary: "Revoke a factory's grant: its linked IRs become Unshared and refuse new jobs (owner).",
      response: AnyObject,
      handle: ({ principal, params }) => {
        const result = unshareIr(session, params.name ?? '', params.factory ?? '', principal.factoryId);
        deps.irChanged(scopedIr(deps, principal, params.name ?? '').id);
        return rendered(result);
      },
    },
    {
      method: 'POST',
      path: '/linked-irs',
      tag: 'sharing',
      summary:
        "Create a linked IR in the token's factory from a shared IR's resource ID; its jobs run on that IR's nodes.",
      body: LinkCreateSchema,
      response: AnyObject,
      status: 201,
      handle: ({ principal, body }) => {
        const input = checked(LinkCreateSchema, body);
        let factory: string;
        if (principal.factoryId === null) {
          if (input.factory === undefined) {
            throw new OpenIrError(
              'INVALID_INPUT',
              'The instance-admin token must name the linking "factory".',
              {
                fix: 'Add "factory": "<the factory the IR was shared with>".',
              },
            );
          }
          factory = input.factory;
        } else {
          factory = factoryName(deps, principal.factoryId);
          if (input.factory !== undefined && input.factory.toLowerCase() !== factory.toLowerCase()) {
            throw new OpenIrError('FORBIDDEN', 'A factory token links IRs into its own factory only.', {
              fix: 'Leave out "factory", or use the instance-admin token.',
            });
          }
        }
        return rendered(linkIr(session, input.name, input.sharedIr, factory));
      },
    },
    {
      method: 'POST',
      path: '/jobs',
      tag: 'jobs',
      summary: 'Queue a copy job on an integration runtime (`<credential>:<location>` source and sink).',
      body: JobSubmitSchema,
      response: JobViewSchema,
      status: 201,
      handle: ({ principal, body }) => {
        const input = checked(JobSubmitSchema, body);
        const ir = scopedIr(deps, principal, input.ir);
        const result = submitJob(session, { ...input, ir: ir.name });
        deps.wakeJobs();
        return rendered(result);
      },
    },
    {
      method: 'GET',
      path: '/jobs',
      tag: 'jobs',
      summary: 'The jobs of the IRs the token sees, newest first, a page at a time (`cursor` from `next`).',
      query: JobListQuerySchema,
      response: z.object({ jobs: z.array(JobViewSchema), next: z.string().nullable() }),
      handle: ({ principal, query }) => {
        const input = checked(JobListQuerySchema, query);
        const irs =
          input.ir === undefined ? visibleIrs(deps, principal) : [scopedIr(deps, principal, input.ir)];
        const names = new Map(irs.map((ir) => [ir.id, ir.name]));
        const page = session.store.jobs.page(
          irs.map((ir) => ir.id),
          input.limit ?? PAGE_DEFAULT,
          input.cursor === undefined ? null : Number(input.cursor),
        );
        const jobs = page.jobs.map((job) => jobView(job, names.get(job.irId) ?? '?'));
        const next = page.next === null ? null : String(page.next);
        return rendered({
          json: { jobs, next },
          text: `${jobsTable(jobs)}${next === null ? '' : `\nMore: --cursor ${next} (GET ${ADMIN_API_PREFIX}/jobs?cursor=${next})`}`,
        });
      },
    },
    {
      method: 'GET',
      path: '/jobs/{id}',
      tag: 'jobs',
      summary: 'One job: state, node, progress, result or failure with its code.',
      response: JobViewSchema,
      handle: ({ principal, params }) => {
        scopedJob(deps, principal, params.id ?? '');
        return rendered(showJob(session, params.id ?? ''));
      },
    },
    {
      method: 'POST',
      path: '/jobs/{id}/cancel',
      tag: 'jobs',
      summary: 'Cancel a job: Queued ones at once, running ones on their node.',
      response: JobViewSchema,
      handle: ({ principal, params }) => {
        scopedJob(deps, principal, params.id ?? '');
        const result = cancelJob(session, params.id ?? '');
        deps.wakeJobs();
        return rendered(result);
      },
    },
    {
      method: 'POST',
      path: '/irs/{name}/nodes/{node}/drain',
      tag: 'nodes',
      summary:
        'Drain a node before updating it: no new jobs, its running ones finish, then it stops its service (shown as Upgrading).',
      response: AnyObject,
      handle: ({ principal, params }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const result = drainNode(session, ir.name, params.node ?? '');
        deps.wakeChannels();
        deps.wakeJobs();
        return rendered(result);
      },
    },
    {
      method: 'GET',
      path: '/version-policy',
      tag: 'versions',
      summary:
        'The version policy (latest, minimum, expiry dates) and where each node stands (instance admin).',
      instanceAdmin: true,
      response: AnyObject,
      handle: () => rendered(showVersionPolicy(session)),
    },
    {
      method: 'PUT',
      path: '/version-policy',
      tag: 'versions',
      summary:
        'Set the version policy; connected nodes learn it at once, and expired versions are refused (instance admin).',
      instanceAdmin: true,
      body: VersionPolicySetSchema,
      response: AnyObject,
      handle: ({ body }) => {
        const input = checked(VersionPolicySetSchema, body);
        const result = setVersionPolicy(session, {
          latest: input.latest,
          ...(input.minimum === undefined ? {} : { minimum: input.minimum }),
          ...(input.expires === undefined ? {} : { expires: input.expires }),
        });
        deps.wakeChannels();
        return rendered(result);
      },
    },
    {
      method: 'GET',
      path: '/diagnostics',
      tag: 'diagnostics',
      summary: 'The diagnostics bundles nodes sent, newest first (instance admin).',
      instanceAdmin: true,
      query: DiagnosticsListQuerySchema,
      response: z.object({ bundles: z.array(AnyObject) }),
      handle: ({ query }) =>
        rendered(listDiagnostics(session.dataDir, checked(DiagnosticsListQuerySchema, query).ir)),
    },
    {
      method: 'GET',
      path: '/diagnostics/{id}',
      tag: 'diagnostics',
      summary: 'One diagnostics bundle, as its zip (instance admin).',
      instanceAdmin: true,
      response: z.string(),
      responseType: 'application/zip',
      handle: ({ params }) => {
        const { entry, bytes } = readDiagnosticsBundle(session.dataDir, params.id ?? '');
        return new Download(bytes, 'application/zip', `${entry.id}.zip`, entry.sha256);
      },
    },
    {
      method: 'GET',
      path: '/irs/{name}/metrics',
      tag: 'monitoring',
      summary:
        "An IR's node metrics: the last heartbeat of each node and its 1-minute series (up to 24 h, `minutes`), and the IR's job counts.",
      query: MetricsQuerySchema,
      response: IrMetricsSchema,
      handle: ({ principal, params, query }) => {
        const ir = scopedIr(deps, principal, params.name ?? '');
        const input = checked(MetricsQuerySchema, query);
        if (!deps.irMetrics) throw new OpenIrError('INTERNAL', 'Monitoring is not running.');
        return deps.irMetrics(ir, input.minutes);
      },
    },
  ];
}

/** Refuses an address after too many failed token checks in a window, so tokens cannot be guessed at speed. */
class FailedAuthLimiter {
  private readonly failures = new Map<string, { count: number; since: number }>();
  constructor(private readonly nowMs: () => number) {}

  check(address: string): void {
    const entry = this.failures.get(address);
    if (!entry) return;
    if (this.nowMs() - entry.since > FAILED_AUTH_WINDOW_MS) this.failures.delete(address);
    else if (entry.count >= FAILED_AUTH_LIMIT) {
      throw new OpenIrError('RATE_LIMITED', 'Too many failed API token checks from this address.', {
        fix: 'Wait a minute, then send a current token.',
      });
    }
  }

  fail(address: string): void {
    const entry = this.failures.get(address);
    if (!entry || this.nowMs() - entry.since > FAILED_AUTH_WINDOW_MS) {
      // Bounded: an address that stopped failing is forgotten when its window ends.
      if (this.failures.size > 10_000) this.failures.clear();
      this.failures.set(address, { count: 1, since: this.nowMs() });
    } else entry.count += 1;
  }
}

/** The admin REST API, bearer-token authenticated and scoped to the token's factory, plus its OpenAPI document. */
export function registerAdminApi(
  app: FastifyInstance<HttpsServer>,
  deps: AdminApiDeps,
): (request: FastifyRequest) => Principal {
  const limiter = new FailedAuthLimiter(deps.nowMs);
  const table = routes(deps);
  const authenticate = (request: FastifyRequest): Principal => {
    limiter.check(request.ip);
    try {
      return deps.session.factories.authenticate(request.headers.authorization);
    } catch (error) {
      limiter.fail(request.ip);
      throw error;
    }
  };
  for (const route of table) {
    app.route({
      method: route.method,
      url: `${ADMIN_API_PREFIX}${route.path.replace(/\{(\w+)\}/g, ':$1')}`,
      handler: async (request, reply) => {
        const principal = authenticate(request);
        if (route.instanceAdmin && principal.factoryId !== null) {
          throw new OpenIrError('FORBIDDEN', 'Only the instance-admin token may do this.', {
            fix: "Use the token in the control plane's admin-token file.",
          });
        }
        const answer = route.handle({
          principal,
          params: request.params as Record<string, string>,
          query: (request.query ?? {}) as Record<string, unknown>,
          body: request.body ?? {},
        });
        reply.status(route.status ?? 200);
        if (answer instanceof Download) {
          return reply
            .type(answer.type)
            .header('content-disposition', `attachment; filename="${answer.fileName}"`)
            .header('x-openir-sha256', answer.sha256)
            .send(answer.bytes);
        }
        const json = answer instanceof Rendered ? answer.result.json : answer;
        // The admin CLI asks for the text it prints; everyone else gets JSON.
        if ((request.headers.accept ?? '').startsWith('text/plain')) {
          const text = answer instanceof Rendered ? answer.result.text : JSON.stringify(json, null, 2);
          return reply.type('text/plain; charset=utf-8').send(text);
        }
        return reply.send(json);
      },
    });
  }
  const document = openApiDocument(table);
  app.get(OPENAPI_PATH, async () => document);
  // The same check and failure limit for the other token-protected endpoints (Prometheus /metrics).
  return authenticate;
}

/** The OpenAPI 3.1 document of the admin API, generated from the route table and its zod schemas. */
export function openApiDocument(table: readonly AdminRoute[]): Record<string, unknown> {
  const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
  const errorResponse = {
    description: 'A refusal: `{ error: { code, message, fix } }`.',
    content: { 'application/json': { schema: json(z.object({ error: ErrorBodySchema })) } },
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of table) {
    const parameters = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    if (route.query) {
      const schema = json(route.query) as { properties?: Record<string, unknown> };
      for (const [name, property] of Object.entries(schema.properties ?? {})) {
        parameters.push({ name, in: 'query', required: false, schema: property as { type: string } });
      }
    }
    const operation: Record<string, unknown> = {
      operationId: `${route.method.toLowerCase()}${route.path.replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      summary: route.summary,
      tags: [route.tag],
      security: [{ bearer: [] }],
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: json(route.body) } } } }
        : {}),
      responses: {
        [String(route.status ?? 200)]: {
          description: 'Done.',
          content: route.responseType
            ? { [route.responseType]: { schema: { type: 'string', contentMediaType: route.responseType } } }
            : { 'application/json': { schema: json(route.response) } },
        },
        '4XX': errorResponse,
      },
    };
    const key = `${ADMIN_API_PREFIX}${route.path}`;
    paths[key] = { ...paths[key], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'OpenIR control plane admin API',
      version: '1',
      description:
        "Integration runtimes, nodes and jobs of the token's data factory. Authenticate with `Authorization: Bearer <token>`.",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}
