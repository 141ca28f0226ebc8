/* netmon.h - Network Monitor expert API for Linux (nmleak's libnmapi).
 *
 * Source-compatible with Netmon-era expert code: every expert structure, enumeration, handle
 * type, flag and constant of Network Monitor 2.x's documentation, with the documented names,
 * members and member order; the NMERR codes with Netmon's values; the entry-point typedefs; the
 * expert functions. Link with -lnmapi.
 *
 * Where the documentation names a constant without giving its value, the value chosen here is
 * the one Network Monitor's SDK header used (noted "value chosen" below). Where two pages name
 * one thing two ways, both names are declared. Windows-only parts (window handles, dialogs,
 * protocol parsers and their property tables, display filters) are inert stand-ins on Linux: the
 * types exist so code compiles, nmleak never fills or reads them (see the README, "Writing an
 * expert"). nmleak's own additions are at the end, under "nmleak extensions". */
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
#ifndef MAX_PATH
#define MAX_PATH 260
#endif
#ifndef DLL_PROCESS_ATTACH           /* DllMain reasons: inert (Linux calls no DllMain) */
#define DLL_PROCESS_DETACH 0
#define DLL_PROCESS_ATTACH 1
#define DLL_THREAD_ATTACH  2
#define DLL_THREAD_DETACH  3
#endif

typedef uint32_t DWORD;
typedef DWORD *LPDWORD;
typedef DWORD *PDWORD;
typedef int32_t LONG;
typedef uint32_t ULONG;
typedef uint16_t WORD;
typedef WORD *LPWORD;
typedef uint8_t BYTE;
typedef BYTE *LPBYTE;
typedef char CHAR;
typedef double DOUBLE;
typedef size_t SIZE_T;
typedef void VOID;
typedef void *LPVOID;
typedef void *PVOID;
typedef const void *LPCVOID;
typedef int BOOL;
typedef char *LPSTR;
typedef const char *LPCSTR;
typedef int64_t __int64;
typedef LPVOID HANDLE;
typedef LPVOID HWND;      /* inert: there are no windows; the host passes NULL */
typedef LPVOID HINSTANCE; /* an expert's module handle: its dlopen() handle */

typedef struct _SYSTEMTIME {
    WORD wYear;
    WORD wMonth;
    WORD wDayOfWeek;
    WORD wDay;
    WORD wHour;
    WORD wMinute;
    WORD wSecond;
    WORD wMilliseconds;
} SYSTEMTIME, *PSYSTEMTIME, *LPSYSTEMTIME;

typedef union _LARGE_INTEGER {
    struct {
        DWORD LowPart;
        LONG HighPart;
    } u;
    int64_t QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

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

/* ---- Handles -------------------------------------------------------------------------------- */
#define EXPERTSTRINGLENGTH    260 /* value chosen (= MAX_PATH) */
#define EXPERTGROUPNAMELENGTH 25  /* value chosen */

typedef LPVOID HEXPERTKEY;          /* one run of an expert (nmhost.h opens and closes them) */
typedef HEXPERTKEY *PHEXPERTKEY;
typedef LPVOID HEXPERT;             /* a loaded expert (inert: experts never receive one) */
typedef HEXPERT *PHEXPERT;
typedef LPVOID HRUNNINGEXPERT;      /* inert */
typedef HRUNNINGEXPERT *PHRUNNINGEXPERT;
typedef LPVOID HGROUP;              /* inert */
typedef HGROUP *PHGROUP;
typedef LPVOID HCAPTURE;            /* opaque: no function takes one on Linux */
typedef LPVOID HFRAME;              /* opaque: no function takes one on Linux */
typedef LPVOID HFILTER;             /* display filters: ExpertGetFrame accepts NULL only */
typedef LPVOID HPROTOCOL;           /* inert: there are no protocol parsers */
typedef uintptr_t HPROPERTY;        /* inert */

/* Parser structures the expert structures point to: declared, never filled (no parsers). */
typedef struct _PROPERTYINST PROPERTYINST, *LPPROPERTYINST;
typedef struct _PROPERTYTABLE PROPERTYTABLE, *LPPROPERTYTABLE;
typedef struct _RECOGNIZEDATATABLE RECOGNIZEDATATABLE, *LPRECOGNIZEDATATABLE;
typedef struct _PROTOCOLTABLETYPE PROTOCOLTABLETYPE, *LPPROTOCOLTABLETYPE;
typedef struct _ADDRESS ADDRESS, *LPADDRESS;
typedef LARGE_INTEGER *ULPLARGEINT;
typedef SYSTEMTIME *ULPTIME;

/* ---- Entry points an expert exports --------------------------------------------------------- */
#define EXPERTENTRY_REGISTER  "Register"
#define EXPERTENTRY_CONFIGURE "Configure"
#define EXPERTENTRY_RUN       "Run"

typedef struct _EXPERTENUMINFO *PEXPERTENUMINFO;
typedef struct _EXPERTCONFIG *PEXPERTCONFIG;
typedef struct _EXPERTSTARTUPINFO *PEXPERTSTARTUPINFO;

typedef BOOL (WINAPI *PEXPERTREGISTERPROC)(PEXPERTENUMINFO pExpertInfo);
typedef BOOL (WINAPI *PEXPERTCONFIGPROC)(HEXPERTKEY hExpertKey, PEXPERTCONFIG *ppConfig,
                                         PEXPERTSTARTUPINFO pExpertStartupInfo, DWORD StartupFlags,
                                         HWND hWnd);
typedef BOOL (WINAPI *PEXPERTRUNPROC)(HEXPERTKEY hExpertKey, PEXPERTCONFIG pConfig,
                                      PEXPERTSTARTUPINFO pExpertStartupInfo, DWORD StartupFlags,
                                      HWND hWndParent);

/* ---- Expert structures ---------------------------------------------------------------------- */

/* EXPERTENUMINFO.Flags (values chosen) */
#define EXPERT_ENUM_FLAG_CONFIGURABLE             0x0001
#define EXPERT_ENUM_FLAG_VIEWER_PRIVATE           0x0002 /* inert */
#define EXPERT_ENUM_FLAG_NO_VIEWER                0x0004 /* inert */
#define EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_SUMMARY 0x0010 /* inert: no context menus */
#define EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_DETAIL  0x0020 /* inert: no context menus */

/* Filled by the expert in Register: szName, szVendor, szDescription, Version (must be 0), Flags.
 * The private members after them are the host's: it fills them once Register returned
 * (szDllName: the path loaded; hModule: the dlopen() handle; the three entry points). */
typedef struct _EXPERTENUMINFO {
    char                szName[EXPERTSTRINGLENGTH];
    char                szVendor[EXPERTSTRINGLENGTH];
    char                szDescription[EXPERTSTRINGLENGTH];
    DWORD               Version;
    DWORD               Flags;
    HEXPERT             hExpert;
    char                szDllName[MAX_PATH];
    HINSTANCE           hModule;
    PEXPERTREGISTERPROC pRegisterProc;
    PEXPERTCONFIGPROC   pConfigProc;
    PEXPERTRUNPROC      pRunProc;
} EXPERTENUMINFO;

/* RawConfigLength is the length of the whole structure, its own four bytes included. */
typedef struct _EXPERTCONFIG {
    DWORD RawConfigLength;
    BYTE  RawConfigData[];
} EXPERTCONFIG;

typedef struct _CONFIGUREDEXPERT {
    HEXPERT       hExpert;
    DWORD         StartupFlags;
    PEXPERTCONFIG pConfig;
} CONFIGUREDEXPERT, *PCONFIGUREDEXPERT;

typedef struct _GROUPINFO {
    char   szGroupName[EXPERTGROUPNAMELENGTH + 1];
    HGROUP hGroup;
} GROUPINFO, *PGROUPINFO;

/* Configure's and Run's StartupFlags (value chosen) */
#define EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA 0x00000001

/* What the host hands Configure and Run, and ExpertGetStartupInfo returns. On Linux: Flags = the
 * run's StartupFlags; hCapture = an opaque non-NULL handle when the run has a capture;
 * szCaptureFile = its path; dwFrameNumber = the frame with focus (NMRUNOPTIONS.FrameNumber);
 * hProtocol, lpPropertyInst and sBitfield are inert (NULL / 0). */
typedef struct _EXPERTSTARTUPINFO {
    DWORD          Flags;
    HCAPTURE       hCapture;
    char           szCaptureFile[MAX_PATH];
    DWORD          dwFrameNumber;
    HPROTOCOL      hProtocol;
    LPPROPERTYINST lpPropertyInst;
    struct {
        BYTE BitNumber;
        BOOL bOn;
    } sBitfield;
} EXPERTSTARTUPINFO;

#define INVALID_FRAME_NUMBER ((DWORD)-1)

/* ---- Status ---------------------------------------------------------------------------------- */
typedef enum _EXPERTSTATUSENUMERATION {
    EXPERTSTATUS_INACTIVE = 0,
    EXPERTSTATUS_STARTING,
    EXPERTSTATUS_RUNNING,
    EXPERTSTATUS_PROBLEM,
    EXPERTSTATUS_ABORTED,
    EXPERTSTATUS_DONE
} EXPERTSTATUSENUMERATION;
typedef EXPERTSTATUSENUMERATION EXPERT_STATUS_ENUMERATION; /* the name the enumeration's page uses */

/* EXPERTSTATUS.SubStatus with EXPERTSTATUS_ABORTED (values chosen) */
#define EXPERTSUBSTATUS_ABORTED_USER        0x0001
#define EXPERTSUBSTATUS_ABORTED_LOAD_FAIL   0x0002
#define EXPERTSUBSTATUS_ABORTED_THREAD_FAIL 0x0004
#define EXPERTSUBSTATUS_ABORTED_BAD_ENTRY   0x0008

typedef struct _EXPERTSTATUS {
    EXPERTSTATUSENUMERATION Status;
    DWORD                   SubStatus;
    DWORD                   PercentDone;
    DWORD                   Frame;
    char                    szStatusText[EXPERTSTRINGLENGTH];
} EXPERTSTATUS, *PEXPERTSTATUS;

/* ---- Frames (ExpertGetFrame) --------------------------------------------------------------- */
#define GET_SPECIFIED_FRAME      0
#define GET_FRAME_NEXT_FORWARD   1
#define GET_FRAME_NEXT_BACKWARD  2
#define FLAGS_DEFER_TO_UI_FILTER 0x1
#define FLAGS_ATTACH_PROPERTIES  0x2
/* The names ExpertGetFrame's remarks use for the same values. */
#define EXPERT_GET_SPECIFIED_FRAME     GET_SPECIFIED_FRAME
#define EXPERT_GET_FRAME_NEXT_FORWARD  GET_FRAME_NEXT_FORWARD
#define EXPERT_GET_FRAME_NEXT_BACKWARD GET_FRAME_NEXT_BACKWARD
#define EXPERT_DEFER_TO_UI_FILTER      FLAGS_DEFER_TO_UI_FILTER
#define EXPERT_ATTACH_PROPERTIES       FLAGS_ATTACH_PROPERTIES

typedef struct _FRAME {
    __int64 TimeStamp;   /* microseconds since the capture's start */
    DWORD   FrameLength; /* length on the wire */
    DWORD   nBytesAvail; /* bytes captured, in MacFrame */
    BYTE    MacFrame[];
} FRAME, *LPFRAME, *ULPFRAME;

/* Filled by ExpertGetFrame: FrameNumber, hFrame (an opaque handle of the frame), pFrame (read-only
 * memory). lpRecognizeDataTable and lpPropertyTable are NULL: there are no protocol parsers. The
 * capture's link type is not part of this structure: see NmExpertGetLinkType below. */
typedef struct _EXPERTFRAMEDESCRIPTOR {
    DWORD                FrameNumber;
    HFRAME               hFrame;
    ULPFRAME             pFrame;
    LPRECOGNIZEDATATABLE lpRecognizeDataTable;
    LPPROPERTYTABLE      lpPropertyTable;
} EXPERTFRAMEDESCRIPTOR, *LPEXPERTFRAMEDESCRIPTOR;

/* ---- Display filters (inert: ExpertGetFrame takes hFilter NULL only) ------------------------ */
typedef enum _FILTERACTIONTYPE { /* values chosen: in the documentation's order */
    FILTERACTION_INVALID = 0,
    FILTERACTION_PROPERTY,
    FILTERACTION_VALUE,
    FILTERACTION_STRING,
    FILTERACTION_ARRAY,
    FILTERACTION_AND,
    FILTERACTION_OR,
    FILTERACTION_XOR,
    FILTERACTION_PROPERTYEXIST,
    FILTERACTION_CONTAINSNC,
    FILTERACTION_CONTAINS,
    FILTERACTION_NOT,
    FILTERACTION_EQUALNC,
    FILTERACTION_EQUAL,
    FILTERACTION_NOTEQUALNC,
    FILTERACTION_NOTEQUAL,
    FILTERACTION_GREATERNC,
    FILTERACTION_GREATER,
    FILTERACTION_LESSNC,
    FILTERACTION_LESS,
    FILTERACTION_GREATEREQUALNC,
    FILTERACTION_GREATEREQUAL,
    FILTERACTION_LESSEQUALNC,
    FILTERACTION_LESSEQUAL,
    FILTERACTION_PLUS,
    FILTERACTION_MINUS,
    FILTERACTION_ADDRESS,
    FILTERACTION_ADDRESSANY,
    FILTERACTION_FROM,
    FILTERACTION_TO,
    FILTERACTION_FROMTO,
    FILTERACTION_AREBITSON,
    FILTERACTION_AREBITSOFF,
    FILTERACTION_PROTOCOLSEXIST,
    FILTERACTION_PROTOCOLEXIST,
    FILTERACTION_ARRAYEQUAL,
    FILTERACTION_DEREFPROPERTY,
    FILTERACTION_LARGEINT,
    FILTERACTION_TIME,
    FILTERACTION_ADDR_ETHER,
    FILTERACTION_ADDR_TOKEN,
    FILTERACTION_ADDR_FDDI,
    FILTERACTION_ADDR_IPX,
    FILTERACTION_ADDR_IP,
    FILTERACTION_OID,
    FILTERACTION_OID_CONTAINS,
    FILTERACTION_OID_BEGINS_WITH,
    FILTERACTION_OID_ENDS_WITH,
    FILTERACTION_ADDR_VINES,
    FILTERACTION_EXPRESSION,
    FILTERACTION_BOOL
} FILTERACTIONTYPE;
#define FILTER_DIRECTION_NEXT TRUE  /* value chosen */
#define FILTER_DIRECTION_PREV FALSE /* value chosen */

typedef struct _OBJECT_IDENTIFIER {
    DWORD   Length;
    LPDWORD lpIdentifier;
} OBJECT_IDENTIFIER, *LPOBJECT_IDENTIFIER;

typedef union _VALUETYPE { /* a stand-in: the documentation does not give its members */
    DWORD   Dword;
    LPVOID  Pointer;
    __int64 LargeInt;
} VALUETYPE;

typedef struct _FILTEROBJECT {
    FILTERACTIONTYPE Action;
    HPROPERTY        hProperty;
    union {
        VALUETYPE           Value;
        HPROTOCOL           hProtocol;
        LPVOID              lpArray;
        LPPROTOCOLTABLETYPE lpProtocolTable;
        LPADDRESS           lpAddress;
        ULPLARGEINT         lpLargeInt;
        ULPTIME             lpTime;
        LPOBJECT_IDENTIFIER lpOID;
    };
    union {
        WORD ByteCount;
        WORD ByteOffset;
    };
    struct _FILTEROBJECT *pNext;
} FILTEROBJECT, *LPFILTEROBJECT;

/* ---- Events (ExpertSubmitEvent) ------------------------------------------------------------- */
#define MAC_ADDRESS_SIZE 6

typedef struct _IPX_ADDRESS {
    BYTE Subnet[4];
    BYTE Address[6];
} IPX_ADDRESS, *LPIPX_ADDRESS;
typedef IPX_ADDRESS IPX_ADDR; /* the SDK header's name */

typedef enum _NMCOLUMNTYPE {
    NMCOLUMNTYPE_UINT8 = 0,
    NMCOLUMNTYPE_SINT8,
    NMCOLUMNTYPE_UINT16,
    NMCOLUMNTYPE_SINT16,
    NMCOLUMNTYPE_UINT32,
    NMCOLUMNTYPE_SINT32,
    NMCOLUMNTYPE_FLOAT64,
    NMCOLUMNTYPE_FRAME,
    NMCOLUMNTYPE_YESNO,
    NMCOLUMNTYPE_ONOFF,
    NMCOLUMNTYPE_TRUEFALSE,
    NMCOLUMNTYPE_MACADDR,
    NMCOLUMNTYPE_IPXADDR,
    NMCOLUMNTYPE_IPADDR,
    NMCOLUMNTYPE_VARTIME,
    NMCOLUMNTYPE_STRING
} NMCOLUMNTYPE;

typedef struct _NMCOLUMNVARIANT {
    NMCOLUMNTYPE Type;
    union {
        BYTE        Uint8Val;
        char        Sint8Val;
        WORD        Uint16Val;
        short       Sint16Val;
        DWORD       Uint32Val;
        LONG        Sint32Val;
        DOUBLE      Float64Val;
        DWORD       FrameVal;
        BOOL        YesNoVal;
        BOOL        OnOffVal;
        BOOL        TrueFalseVal;
        BYTE        MACAddrVal[MAC_ADDRESS_SIZE];
        IPX_ADDRESS IPXAddrVal;
        DWORD       IPAddrVal;  /* the address's bytes in network order, as in the frame */
        DOUBLE      VarTimeVal; /* an OLE automation date: days since 1899-12-30 */
        LPSTR       pStringVal;
    } Value;
} NMCOLUMNVARIANT;

/* The structure's page names it NMCOLUMNINFO; its syntax block names it EVENTCOLUMNINFO. */
typedef struct _NMCOLUMNINFO {
    LPSTR           szColumnName;
    NMCOLUMNVARIANT VariantData;
} NMCOLUMNINFO, EVENTCOLUMNINFO, *PNMCOLUMNINFO;

/* The text shown in the Event Viewer's second window (NULL: none). */
typedef LPSTR JTYPE;

/* NMEVENTDATA.Flags (values chosen). NMEVENTDATA's page calls the first one EVENT_FLAG_EXPERT. */
#define NMEVENTFLAG_EXPERT                       0x00000001
#define EVENT_FLAG_EXPERT                        NMEVENTFLAG_EXPERT
#define NMEVENTFLAG_DO_NOT_DISPLAY_SEVERITY      0x80000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_SOURCE        0x40000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_EVENT_NAME    0x20000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_DESCRIPTION   0x10000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE       0x08000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_TIME          0x04000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_DATE          0x02000000
#define NMEVENTFLAG_DO_NOT_DISPLAY_FIXED_COLUMNS 0xfe000000 /* the seven above */

/* NMEVENTDATA.Severity (values chosen) */
enum _NMEVENT_SEVERITIES {
    NMEVENT_SEVERITY_INFORMATIONAL = 0,
    NMEVENT_SEVERITY_WARNING,
    NMEVENT_SEVERITY_STRONG_WARNING,
    NMEVENT_SEVERITY_ERROR,
    NMEVENT_SEVERITY_SEVERE_ERROR,
    NMEVENT_SEVERITY_CRITICAL_ERROR
};

/* One finding. Version must be 0. NumColumns entries of Column follow the structure. Every
 * string may be NULL. SysTime: a calendar time (all zero: none given). */
typedef struct _NMEVENTDATA {
    BYTE         Version;
    DWORD        EventIdent;
    DWORD        Flags;
    DWORD        Severity;
    BYTE         NumColumns;
    LPSTR        szSourceName;
    LPSTR        szEventName;
    LPSTR        szDescription;
    LPSTR        szMachine;
    JTYPE        Justification;
    LPSTR        szUrl;
    SYSTEMTIME   SysTime;
    NMCOLUMNINFO Column[];
} NMEVENTDATA, *PNMEVENTDATA;

/* ---- The expert functions -------------------------------------------------------------------- */
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
/* The startup information of the key's run (what Configure and Run were handed). NMERR_SUCCESS;
 * NMERR_INVALID_PARAMETER for a NULL pointer; NMERR_EXPERT_TERMINATE once terminate was asked;
 * NMERR_INVALID_EXPERT_HANDLE for a key that is not open. */
DWORD  WINAPI ExpertGetStartupInfo(HEXPERTKEY hExpertKey, PEXPERTSTARTUPINFO pExpertStartupInfo);
/* Records a finding for the key (reports, snapshots, the GUI show it). NMERR_SUCCESS;
 * NMERR_INVALID_PARAMETER for a NULL or unreadable event, a bad Severity or column type, more
 * than NM_EVENT_MAX_COLUMNS columns, a string that is unreadable or longer than
 * NM_EVENT_MAX_STRING bytes, a SysTime that is no calendar time; NMERR_NOT_SUPPORTED for a
 * Version other than 0; NMERR_EXPERT_TERMINATE once terminate was asked (the event is not
 * recorded); NMERR_INVALID_EXPERT_HANDLE. A refused event changes nothing. Past
 * NM_EVENT_MAX_PER_KEY events a key's further events are counted as dropped (NMERR_SUCCESS). */
DWORD  WINAPI ExpertSubmitEvent(HEXPERTKEY hExpertKey, PNMEVENTDATA pExpertEvent);

/* ---- nmleak extensions ------------------------------------------------------------------------ */
#define NM_EVENT_MAX_COLUMNS 32     /* columns per event */
#define NM_EVENT_MAX_STRING  4096   /* bytes per string, the terminating NUL excluded */
#define NM_EVENT_MAX_PER_KEY 10000  /* events kept per key; further ones are counted as dropped */

/* The link type of the capture the key reads: a pcap LINKTYPE_ value (1: Ethernet). NMERR_SUCCESS;
 * NMERR_FRAME_NOT_FOUND when the key has no capture; NMERR_INVALID_PARAMETER for a NULL pointer;
 * NMERR_EXPERT_TERMINATE / NMERR_INVALID_EXPERT_HANDLE as ExpertGetFrame. */
DWORD  WINAPI NmExpertGetLinkType(HEXPERTKEY hExpertKey, LPDWORD pLinkType);

#ifdef __cplusplus
}
#endif
#endif /* NETMON_H */
