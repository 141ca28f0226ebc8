/* nmhost.h - the host (analyzer) side of libnmapi: expert keys, terminate, forced cleanup,
 * capture options and reports. */
#ifndef NMHOST_H
#define NMHOST_H

#include "netmon.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How an expert run ended; passed to NmCloseExpertKey. */
#define NM_OUTCOME_DONE       0 /* Run returned TRUE: blocks still held are leaks */
#define NM_OUTCOME_FAILED     1 /* Run returned FALSE or threw */
#define NM_OUTCOME_TERMINATED 2 /* stopped after NmRequestExpertTerminate */
#define NM_OUTCOME_CRASHED    3 /* the expert's thread took a fatal signal */
#define NM_OUTCOME_TIMEOUT    4 /* overran its deadline */

typedef struct _NMCLEANUPINFO {
    SIZE_T Blocks; /* blocks reclaimed */
    SIZE_T Bytes;  /* bytes the expert had asked for in those blocks */
} NMCLEANUPINFO;

/* A new key for one expert run; NULL if the name is NULL or no key slot is free. */
HEXPERTKEY WINAPI NmOpenExpertKey(const char *expertName);
/* From now on Alloc/Realloc fail, Free and IndicateStatus return NMERR_EXPERT_TERMINATE. */
DWORD WINAPI NmRequestExpertTerminate(HEXPERTKEY hExpertKey);
/* Frees every block the key still holds, records the cleanup (leaks for NM_OUTCOME_DONE, forced
 * cleanup otherwise) and invalidates the key. pInfo may be NULL. */
DWORD WINAPI NmCloseExpertKey(HEXPERTKEY hExpertKey, DWORD outcome, NMCLEANUPINFO *pInfo);
/* Writes a report of the whole process: format "text", "json", "sarif", "folded", "pprof", "html"
 * or "snapshot"; NULL or "" picks it from the extension (.txt .json .sarif .folded .pb.gz .html
 * .nmsnap). */
DWORD WINAPI NmWriteReport(const char *path, const char *format);

/* Call-stack capture for blocks allocated from now on: depth 0 is the sizes-only mode (no stacks);
 * otherwise 1..NM_MAX_STACK_DEPTH frames. Same as the NMLEAK_STACK_DEPTH environment variable. */
#define NM_MAX_STACK_DEPTH 64
DWORD WINAPI NmSetStackDepth(DWORD depth);

/* What closing a key does with the heap blocks (malloc/new, outside the API) its run left behind,
 * for keys closed from now on. NM_RECLAIM_NONE (the default) lists them in the cleanup record and
 * frees none: the host may still hold them. NM_RECLAIM_UNREACHABLE frees those a conservative
 * reachability pass finds nothing pointing to, and lists the rest; a pointer the program hides
 * (xor'd, in a file, only in the kernel) makes it free a block still in use. Same as the
 * NMLEAK_RECLAIM_LEFT_BEHIND environment variable ("unreachable", "off"). */
#define NM_RECLAIM_NONE 0
#define NM_RECLAIM_UNREACHABLE 1
DWORD WINAPI NmSetLeftBehindReclaim(DWORD mode);

/* ==== Expert runner (core/src/host, core/src/capture) ======================================== *
 * Loads expert shared objects and runs each on its own thread with its own key. Run's end decides
 * the outcome the key is closed with: TRUE -> DONE, FALSE or a C++ exception -> FAILED, a stop
 * after a terminate request -> TERMINATED, SIGSEGV/SIGBUS/SIGFPE/SIGILL/SIGABRT on the expert's
 * thread -> CRASHED (the host survives: the thread is unwound with siglongjmp), a deadline plus
 * grace period overrun -> TIMEOUT (the thread is interrupted, at a point where it runs only expert
 * code, and unwound). Before the close the reason is recorded (nm::record_outcome_detail), so
 * reports and the GUI show it; closing reclaims every block the expert still held.
 * Several runs may be in flight at once. Limits: see the README ("Running experts"). */

typedef struct _NMEXPERT NMEXPERT; /* a loaded expert shared object (opaque) */
typedef struct _NMRUN NMRUN;       /* one run of an expert (opaque) */

#define NM_RUNNER_TEXT_SZ     512        /* szError / szDetail buffers */
#define NM_DEFAULT_GRACE_MS   500        /* NMRUNOPTIONS.GraceMs == 0 */
#define NM_WAIT_INFINITE      0xFFFFFFFFu
/* ExpertGetFrame: frames are numbered 0..N-1. GET_FRAME_NEXT_FORWARD returns frame
 * RequestedFrameNumber + 1 and GET_FRAME_NEXT_BACKWARD frame RequestedFrameNumber - 1 (the
 * position is the number passed in, normally the previous descriptor's FrameNumber: no hidden
 * cursor, so several threads may read one key). NM_FRAME_BEFORE_FIRST as the position of a
 * forward step gives frame 0; N (the count) as the position of a backward step gives frame N-1. */
#define NM_FRAME_BEFORE_FIRST 0xFFFFFFFFu

/* dlopen()s PATH (RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE: the code stays mapped, so stacks into it
 * stay symbolizable and an abandoned thread never runs unmapped code), checks the entry points
 * (Register and Run required, Configure optional) and calls Register on a guarded thread.
 * NMERR_SUCCESS and *ppExpert, or NMERR_LOAD_EXPERT_FAILED with the path and the reason (dlerror
 * text, the missing entry point, Register returned FALSE or crashed) in szError (may be NULL). */
DWORD WINAPI NmLoadExpert(const char *path, NMEXPERT **ppExpert, char *szError, SIZE_T cbError);
/* What Register filled in, and the private members the loader filled after it: szDllName (the
 * path), hModule (the dlopen() handle), pRegisterProc, pConfigProc (NULL when the expert exports
 * no Configure), pRunProc and hExpert (an opaque handle of the loaded expert). Register must
 * leave Version 0, and may set EXPERT_ENUM_FLAG_CONFIGURABLE only when it exports Configure:
 * otherwise the load fails. */
const EXPERTENUMINFO *WINAPI NmExpertInfo(const NMEXPERT *pExpert);
/* Releases the handle; runs still in flight keep what they need. NULL is a no-op. */
void WINAPI NmFreeExpert(NMEXPERT *pExpert);

typedef struct _NMRUNOPTIONS {
    const char   *szCaptureFile; /* pcap read through ExpertGetFrame; NULL: a run without frames */
    DWORD         DeadlineMs;    /* 0: none. Then terminate is requested, GraceMs later: TIMEOUT */
    DWORD         GraceMs;       /* 0: NM_DEFAULT_GRACE_MS */
    PEXPERTCONFIG pConfig;       /* non-NULL: handed to Run and Configure is not called */
    const char   *szKeyName;     /* NULL: the name Register gave (EXPERTENUMINFO.szName) */
    DWORD         StartupFlags;  /* passed to Configure and Run, and in EXPERTSTARTUPINFO.Flags */
    DWORD         FrameNumber;   /* EXPERTSTARTUPINFO.dwFrameNumber: the frame with focus */
} NMRUNOPTIONS;

typedef struct _NMRUNRESULT {
    DWORD         Outcome;      /* NM_OUTCOME_* the key was closed with */
    BOOL          KeyClosed;    /* FALSE only for a TIMEOUT whose thread could not be stopped */
    BOOL          RunReturned;  /* Run returned (TRUE/FALSE in RunValue); FALSE if it threw/crashed */
    BOOL          RunValue;
    int           Signal;       /* CRASHED: the signal; 0 otherwise */
    uint64_t      FaultAddress; /* CRASHED: si_addr (the faulting address) */
    uint64_t      FaultPc;      /* CRASHED/TIMEOUT: the instruction the thread was stopped at */
    DWORD         FramesRead;   /* frames ExpertGetFrame returned to the run */
    DWORD         ElapsedMs;    /* from start to the key's close */
    NMCLEANUPINFO Cleanup;      /* what the close reclaimed: leaks for DONE, forced cleanup else */
    char          szKeyName[EXPERTSTRINGLENGTH];
    char          szDetail[NM_RUNNER_TEXT_SZ]; /* why the run ended, human-readable */
} NMRUNRESULT;

/* The configuration the expert keeps between runs.
 * A run is handed, in this order: NMRUNOPTIONS.pConfig when given; else the configuration kept
 * for the expert (by NmConfigureExpert or an earlier run); else, when the expert exports
 * Configure, the runner calls Configure on the run's own key first (*ppConfig NULL) and keeps what
 * it returns; else NULL. What Configure returns is copied (RawConfigLength bytes) into memory the
 * host owns and the block freed from the key, so the configuration outlives the key that made
 * it: each later run gets its own copy, valid until its Run returns (Run's pConfig is [in]; an
 * expert must not free it). A configuration whose RawConfigLength is below 4 or past the end of
 * its block is refused (Configure's call fails with the reason). */

/* Calls the expert's Configure on a key of its own (named "NAME (configure)", closed with
 * NM_OUTCOME_DONE after the call, so whatever else Configure allocated and kept is a leak) on a
 * guarded thread like a run: *ppConfig is a copy of the kept configuration (in a block of that key,
 * so Configure may ExpertReallocMemory it) or NULL, then what Configure leaves there is kept. The
 * options' capture, StartupFlags and FrameNumber make the startup information. NMERR_SUCCESS;
 * NMERR_NOT_SUPPORTED when the expert exports no Configure; NMERR_INVALID_PARAMETER when
 * Configure returned FALSE, crashed, threw or returned a bad configuration (szError says which;
 * the kept configuration is unchanged) or the capture cannot be read; NMERR_OUT_OF_MEMORY when
 * no key or thread could be had. Configure returning TRUE with *ppConfig NULL clears it. */
DWORD WINAPI NmConfigureExpert(NMEXPERT *pExpert, const NMRUNOPTIONS *pOptions, char *szError,
                               SIZE_T cbError);
/* A copy of the kept configuration (RawConfigLength bytes) into pBuffer (cbBuffer bytes, may be
 * NULL); returns its length, 0 when none is kept. */
SIZE_T WINAPI NmGetExpertConfig(const NMEXPERT *pExpert, PEXPERTCONFIG pBuffer, SIZE_T cbBuffer);
/* Replaces the kept configuration with a copy of pConfig (NULL clears it). NMERR_INVALID_PARAMETER
 * when RawConfigLength is below 4. */
DWORD WINAPI NmSetExpertConfig(NMEXPERT *pExpert, const EXPERTCONFIG *pConfig);

/* Opens a key, attaches the capture and starts the run's thread (Configure first when needed: see
 * above, then Run). NMERR_SUCCESS and *ppRun; NMERR_INVALID_PARAMETER when the capture
 * cannot be read (szError names the file and says why), NMERR_OUT_OF_MEMORY when no key or thread
 * could be had. pOptions may be NULL. */
DWORD WINAPI NmStartExpert(NMEXPERT *pExpert, const NMRUNOPTIONS *pOptions, NMRUN **ppRun,
                           char *szError, SIZE_T cbError);
/* The run's key (for NmRequestExpertTerminate, the GUI...). Invalid once the run closed it. */
HEXPERTKEY WINAPI NmRunKey(const NMRUN *pRun);
/* Asks the expert to stop now: NmRequestExpertTerminate, then after the grace period the run
 * is interrupted like a deadline overrun. */
DWORD WINAPI NmTerminateRun(NMRUN *pRun);
/* Waits up to TimeoutMs (NM_WAIT_INFINITE) for the run to end. NMERR_SUCCESS with *pResult filled
 * (may be NULL), or NMERR_TIMEOUT if it is still running. A run past its deadline always ends:
 * when its thread cannot be stopped it is reported as TIMEOUT with KeyClosed FALSE. */
DWORD WINAPI NmWaitExpert(NMRUN *pRun, DWORD TimeoutMs, NMRUNRESULT *pResult);
/* Releases the handle. A run still in flight goes on and cleans up after itself. NULL: no-op. */
void WINAPI NmFreeRun(NMRUN *pRun);
/* Load + start + wait + free in one call. On a load or start error the return value is that
 * error and pResult->szDetail says why (the run did not happen; pResult->Outcome is FAILED). */
DWORD WINAPI NmRunExpert(const char *path, const NMRUNOPTIONS *pOptions, NMRUNRESULT *pResult);

/* For hosts that run experts themselves: gives a key the capture ExpertGetFrame reads (loaded
 * into memory once, read-only, shared by every key reading the same file). NULL detaches; do it
 * before NmCloseExpertKey. NMERR_INVALID_EXPERT_HANDLE for a key that is not open;
 * NMERR_INVALID_PARAMETER (szError says why) for a capture that cannot be read. */
DWORD WINAPI NmSetExpertCapture(HEXPERTKEY hExpertKey, const char *szCaptureFile, char *szError,
                                SIZE_T cbError);
/* For hosts that run experts themselves: what ExpertGetStartupInfo returns for the key (copied;
 * NULL forgets it). Without it, ExpertGetStartupInfo gives a zeroed structure with szCaptureFile
 * (and hCapture) of the capture NmSetExpertCapture attached. NMERR_INVALID_EXPERT_HANDLE for a key
 * that is not open. The runner sets it for its own runs. */
DWORD WINAPI NmSetExpertStartupInfo(HEXPERTKEY hExpertKey, const EXPERTSTARTUPINFO *pStartupInfo);
/* ==== end of the expert runner ================================================================ */

#ifdef __cplusplus
}
#endif
#endif /* NMHOST_H */
