/* netmon.h - Network Monitor expert API for Linux (nmleak's libnmapi).
 *
 * Source-compatible with Netmon-era expert code: the Windows types, the NMERR codes with Netmon's
 * values, the expert structures and the entry-point typedefs. Link with -lnmapi. */
#ifndef NETMON_H
#define NETMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Windows type stand-ins ---------------------------------------------------------------- */
#ifndef WINAPI
#define WINAPI
#endif
#ifndef CALLBACK
#define CALLBACK
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

typedef uint32_t DWORD;
typedef DWORD *LPDWORD;
typedef int32_t LONG;
typedef uint16_t WORD;
typedef uint8_t BYTE;
typedef BYTE *LPBYTE;
typedef size_t SIZE_T;
typedef void *LPVOID;
typedef const void *LPCVOID;
typedef int BOOL;
typedef char *LPSTR;
typedef const char *LPCSTR;
typedef int64_t __int64;
typedef LPVOID HEXPERTKEY;
typedef LPVOID HFILTER;
typedef LPVOID HWND;
typedef LPVOID HINSTANCE;

/* ---- Error codes (Netmon's values) --------------------------------------------------------- */
#define NMERR_SUCCESS               0
#define NMERR_NO_MORE_FRAMES        5
#define NMERR_OUT_OF_MEMORY         19
#define NMERR_FRAME_NOT_FOUND       51
#define NMERR_INTERNAL_EXCEPTION    69
#define NMERR_ACCESS_DENIED         74
#define NMERR_INVALID_PARAMETER     76
#define NMERR_NOT_SUPPORTED         90
#define NMERR_TIMEOUT               96
#define NMERR_LOAD_EXPERT_FAILED    118
#define NMERR_EXPERT_TERMINATE      125
#define NMERR_INVALID_EXPERT_HANDLE 130

/* ---- Expert structures --------------------------------------------------------------------- */
#define EXPERT_ENUM_SZ_NAME       64
#define EXPERT_ENUM_SZ_VENDOR     32
#define EXPERT_ENUM_SZ_DESCRIPTION 256
#define MAX_PATH                  260

/* EXPERTENUMINFO.Flags */
#define EXPERT_ENUM_FLAG_CONFIGURATION_NEEDED     0x0001
#define EXPERT_ENUM_FLAG_VIEWER_PRIVATE           0x0002
#define EXPERT_ENUM_FLAG_NO_VIEWER                0x0004
#define EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_SUMMARY 0x0010
#define EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_DETAIL  0x0020

typedef struct _EXPERTENUMINFO {
    char  szName[EXPERT_ENUM_SZ_NAME];
    char  szVendor[EXPERT_ENUM_SZ_VENDOR];
    char  szDescription[EXPERT_ENUM_SZ_DESCRIPTION];
    DWORD Version;
    DWORD Flags;
    char  szDllName[MAX_PATH];
    HINSTANCE hModule;
    HINSTANCE hExpert;
    DWORD StartupTimeout;
} EXPERTENUMINFO, *PEXPERTENUMINFO;

typedef struct _EXPERTCONFIG {
    DWORD RawConfigLength;
    BYTE  RawConfigData[1];
} EXPERTCONFIG, *PEXPERTCONFIG;

typedef struct _EXPERTSTARTUPINFO {
    DWORD Flags;
    HWND  hWndParent;
    char  szCaptureFile[MAX_PATH];
    LPVOID CaptureFilter;
    LPVOID pFrameDescriptor;
} EXPERTSTARTUPINFO, *PEXPERTSTARTUPINFO;

typedef enum _EXPERTSTATUSENUMERATION {
    EXPERTSTATUS_INACTIVE = 0,
    EXPERTSTATUS_STARTING,
    EXPERTSTATUS_RUNNING,
    EXPERTSTATUS_PROBLEM,
    EXPERTSTATUS_ABORTED,
    EXPERTSTATUS_DONE
} EXPERTSTATUSENUMERATION;

/* ---- Frames (ExpertGetFrame) --------------------------------------------------------------- */
#define GET_SPECIFIED_FRAME      0
#define GET_FRAME_NEXT_FORWARD   1
#define GET_FRAME_NEXT_BACKWARD  2

#define FLAGS_DEFER_TO_UI_FILTER 0x1
#define FLAGS_ATTACH_PROPERTIES  0x2

typedef struct _FRAME {
    __int64 TimeStamp;   /* microseconds since the capture's start */
    DWORD   FrameLength; /* length on the wire */
    DWORD   nBytesAvail; /* bytes captured, in MacFrame */
    BYTE    MacFrame[1];
} FRAME, *LPFRAME;

typedef struct _EXPERTFRAMEDESCRIPTOR {
    DWORD   FrameNumber;
    WORD    Type;        /* link type (pcap DLT) */
    WORD    Reserved;
    LPFRAME pFrame;
    LPVOID  pPropertyInst;
} EXPERTFRAMEDESCRIPTOR, *LPEXPERTFRAMEDESCRIPTOR;

/* ---- Entry points an expert exports --------------------------------------------------------- */
#define EXPERTENTRY_REGISTER  "Register"
#define EXPERTENTRY_CONFIGURE "Configure"
#define EXPERTENTRY_RUN       "Run"

typedef BOOL (WINAPI *PEXPERTREGISTERPROC)(PEXPERTENUMINFO pExpertEnumInfo);
typedef BOOL (WINAPI *PEXPERTCONFIGPROC)(HEXPERTKEY hExpertKey, PEXPERTCONFIG *ppExpertConfig,
                                         PEXPERTSTARTUPINFO pExpertStartupInfo, DWORD StartupFlags,
                                         HWND hWnd);
typedef BOOL (WINAPI *PEXPERTRUNPROC)(HEXPERTKEY hExpertKey, PEXPERTCONFIG pExpertConfig,
                                      PEXPERTSTARTUPINFO pExpertStartupInfo, DWORD StartupFlags,
                                      HWND hWnd);

/* ---- The expert memory API ------------------------------------------------------------------ */
LPVOID WINAPI ExpertAllocMemory(HEXPERTKEY hExpertKey, SIZE_T nBytes, LPDWORD pError);
LPVOID WINAPI ExpertReallocMemory(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory, SIZE_T nBytes,
                                  LPDWORD pError);
SIZE_T WINAPI ExpertFreeMemory(HEXPERTKEY hExpertKey, LPVOID pMemory);
SIZE_T WINAPI ExpertMemorySize(HEXPERTKEY hExpertKey, LPVOID pOriginalMemory);
DWORD  WINAPI ExpertIndicateStatus(HEXPERTKEY hExpertKey, EXPERTSTATUSENUMERATION Status,
                                   DWORD SubStatus, const char *szText, LONG PercentDone);
DWORD  WINAPI ExpertGetFrame(HEXPERTKEY hExpertKey, DWORD Direction, DWORD RequestFlags,
                             DWORD RequestedFrameNumber, HFILTER hFilter,
                             LPEXPERTFRAMEDESCRIPTOR pEFrameDescriptor);

#ifdef __cplusplus
}
#endif
#endif /* NETMON_H */
