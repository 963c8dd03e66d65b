/**
 * Reads a multipart submission: one part named `application` (the JSON application, as a field
 * or a file, or the application form as a PDF file, `application/pdf`, which the extraction
 * stage reads later) and any number of attachment files, whose field name is their kind
 * (`site-plan`, `drawings`, ...; `attachment` means `other`).
 *
 * Each attachment streams to a temporary file while its SHA-256 and size are computed: the
 * object key is `attachments/<sha256>`, known only at the end of the stream, and nothing may be
 * stored before the whole request has been checked. Temporary files keep memory flat with 25 MB
 * bodies under a surge; the caller removes them (`dispose`) whatever happens.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { problem, PROBLEM_TYPES, ProblemError } from './problem.ts';
import { sanitizeName } from '../../domain/names.ts';

export interface SpooledAttachment {
  name: string;
  kind: string;
  contentType: string;
  size: number;
  sha256: string;
  /** Temporary file holding the bytes until they are stored. */
  path: string;
}

export interface MultipartSubmission {
  application: unknown;
  /** The application as a PDF form (spooled like an attachment), when the application part is one. */
  applicationDocument?: SpooledAttachment;
  attachments: SpooledAttachment[];
  dispose(): Promise<void>;
}

export interface MultipartLimits {
  bodyLimitBytes: number;
  /** Largest application part (the JSON body's limit). */
  jsonLimitBytes: number;
  maxAttachments: number;
}

/** Parses the application part's text exactly as a JSON body is parsed; throws for invalid JSON. */
export type JsonParser = (text: string) => unknown;

const APPLICATION_PART = 'application';
const PDF = 'application/pdf';
const KIND = /^[a-z][a-z0-9-]{0,39}$/;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

const tooLarge = (detail: string) => new ProblemError(problem(413, PROBLEM_TYPES.blank, detail));
const badPart = (detail: string) => new ProblemError(problem(400, PROBLEM_TYPES.invalidMultipart, detail));

/**
 * A file name safe to store and show to a clerk: no path, and the file drop's rules (no control
 * or invisible formatting characters such as a right-to-left override, no leading dot or dash).
 */
export function sanitiseFileName(name: string): string {
  const base = basename(name.replaceAll('\\', '/'));
  return base === '' || base === '.' || base === '..' ? 'attachment' : sanitizeName(base);
}

function kindOf(fieldname: string): string {
  return fieldname === 'attachment' || !KIND.test(fieldname) ? 'other' : fieldname;
}

function parseApplication(parse: JsonParser, text: string): unknown {
  try {
    return parse(text);
  } catch {
    throw new ProblemError(problem(400, PROBLEM_TYPES.invalidJson, `the ${APPLICATION_PART} part is not valid JSON`));
  }
}

/**
 * Busboy signals a body that ends inside a part by emitting 'error' on the part's stream, which
 * can happen before the part reaches us; the stream then never ends. So once the request is
 * complete, a part that makes no progress for a while is cut short by failing our own stage of
 * its pipeline (a complete part has all its bytes buffered by then and keeps flowing) and by
 * rejecting the stall promise: on Node 24 the pipeline itself may never settle, since it waits
 * for the part's stream to close and busboy's never does.
 */
function truncationGuard(request: IncomingMessage, stallMs: number) {
  let timer: NodeJS.Timeout | undefined;
  let current: { stream: Readable; stalled: (err: Error) => void } | undefined;
  let requestDone = request.complete;
  const arm = () => {
    clearTimeout(timer);
    const watched = current;
    if (!requestDone || !watched) return;
    timer = setTimeout(() => {
      const err = badPart('the body ends inside a part');
      watched.stream.destroy(err);
      watched.stalled(err);
    }, stallMs);
  };
  const onDone = () => {
    requestDone = true;
    arm();
  };
  request.once('end', onDone).once('close', onDone);
  return {
    /** Watches a stream; the promise rejects when it stalls after the request ended. */
    watch(stream: Readable): Promise<never> {
      return new Promise<never>((_resolve, reject) => {
        current = { stream, stalled: reject };
        arm();
      });
    },
    progress: arm,
    unwatch() {
      clearTimeout(timer);
      current = undefined;
    },
    dispose() {
      clearTimeout(timer);
      request.off('end', onDone).off('close', onDone);
    },
  };
}

const STALL_MS = 1000;

export async function readMultipart(request: FastifyRequest, limits: MultipartLimits, parseJson: JsonParser): Promise<MultipartSubmission> {
  const dir = await mkdtemp(join(tmpdir(), 'permitflow-intake-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const guard = truncationGuard(request.raw, STALL_MS);
  const attachments: SpooledAttachment[] = [];
  let application: unknown;
  let applicationDocument: SpooledAttachment | undefined;
  let seenApplication = false;
  let total = 0;

  /** Streams a file part through a meter (size, SHA-256, part and body limits) into `sink`. */
  async function consume(file: Readable & { truncated?: boolean }, sink: Writable, partLimit = limits.bodyLimitBytes): Promise<{ size: number; sha256: string }> {
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        guard.progress();
        size += chunk.length;
        total += chunk.length;
        if (size > partLimit) return done(tooLarge(`the ${APPLICATION_PART} part exceeds ${partLimit} bytes`));
        if (total > limits.bodyLimitBytes) return done(tooLarge(`the submission exceeds ${limits.bodyLimitBytes} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // The meter, not the file: the file stream may already be destroyed without our pipeline noticing.
    const stalled = guard.watch(meter);
    const piped = pipeline(file, meter, sink);
    piped.catch(() => undefined); // settles late or never once stalled: the race below reports
    try {
      await Promise.race([piped, stalled]);
    } finally {
      guard.unwatch();
    }
    if (file.truncated) throw tooLarge(`a part exceeds ${limits.bodyLimitBytes} bytes`);
    return { size, sha256: hash.digest('hex') };
  }

  try {
    const parts = request.parts({
      limits: {
        fieldNameSize: 100,
        // Only the application may be a field: the JSON limit bounds what a field parse can cost.
        fieldSize: limits.jsonLimitBytes,
        fields: 4,
        fileSize: limits.bodyLimitBytes,
        files: limits.maxAttachments + 1,
        parts: limits.maxAttachments + 5,
        headerPairs: 50,
      },
    });
    for await (const part of parts) {
      if (part.fieldname === APPLICATION_PART) {
        if (seenApplication) throw badPart(`more than one ${APPLICATION_PART} part`);
        seenApplication = true;
        if (part.type === 'field') {
          if (part.valueTruncated) throw tooLarge(`the ${APPLICATION_PART} part exceeds ${limits.jsonLimitBytes} bytes`);
          // @fastify/multipart has already parsed a field sent as application/json (with secure-json-parse, as a JSON body).
          application = typeof part.value === 'string' && !part.mimetype.startsWith('application/json') ? parseApplication(parseJson, part.value) : part.value;
          total += typeof part.value === 'string' ? part.value.length : 0;
        } else if (part.mimetype.toLowerCase() === PDF) {
          const path = join(dir, 'application.pdf');
          const { size, sha256 } = await consume(part.file, createWriteStream(path, { flags: 'wx' }));
          // Refused here, not dead-lettered later: the client is still on the line to hear why.
          if (!(await startsWithPdfHeader(path))) throw new ProblemError(problem(415, PROBLEM_TYPES.blank, `the ${APPLICATION_PART} part says ${PDF} but is not a PDF (no %PDF- header)`));
          applicationDocument = { name: sanitiseFileName(part.filename || 'application.pdf'), kind: APPLICATION_PART, contentType: PDF, size, sha256, path };
        } else {
          const chunks: Buffer[] = [];
          await consume(part.file, new Writable({ write: (chunk: Buffer, _e, done) => { chunks.push(chunk); done(); } }), limits.jsonLimitBytes);
          application = parseApplication(parseJson, Buffer.concat(chunks).toString('utf8'));
        }
        continue;
      }
      if (part.type === 'field') throw badPart(`unexpected field ${JSON.stringify(part.fieldname.slice(0, 100))}: send the application as the ${APPLICATION_PART} part and attachments as files`);
      if (attachments.length >= limits.maxAttachments) throw tooLarge(`at most ${limits.maxAttachments} attachments per submission`);

      const path = join(dir, String(attachments.length));
      const { size, sha256 } = await consume(part.file, createWriteStream(path, { flags: 'wx' }));
      // A browser sends an empty, nameless part for a file input left blank.
      if (size === 0 && part.filename === '') continue;
      const contentType = part.mimetype.toLowerCase();
      attachments.push({
        name: sanitiseFileName(part.filename),
        kind: kindOf(part.fieldname),
        contentType: MEDIA_TYPE.test(contentType) ? contentType : 'application/octet-stream',
        size,
        sha256,
        path,
      });
    }
    if (!seenApplication) throw badPart(`no ${APPLICATION_PART} part: send the application JSON as a part named ${APPLICATION_PART}`);
    if (total > limits.bodyLimitBytes) throw tooLarge(`the submission exceeds ${limits.bodyLimitBytes} bytes`);
    return { application, ...(applicationDocument && { applicationDocument }), attachments, dispose };
  } catch (err) {
    await dispose();
    throw asClientError(err);
  } finally {
    guard.dispose();
  }
}

async function startsWithPdfHeader(path: string): Promise<boolean> {
  const file = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(1024), 0, 1024, 0);
    return buffer.subarray(0, bytesRead).toString('latin1').includes('%PDF-');
  } finally {
    await file.close();
  }
}

/** Busboy reports a malformed body as a plain Error: that is the client's fault (400), unlike a disk error. */
function asClientError(err: unknown): unknown {
  if (err instanceof ProblemError || !(err instanceof Error)) return err;
  if ('statusCode' in err || 'syscall' in err) return err;
  return badPart(`malformed multipart body: ${err.message}`);
}
