/* netmon_names.c - every structure, member, enumeration, handle type, flag and constant that
 * Network Monitor 2.x's expert reference pages name, checked against <netmon.h> at compile time:
 * each documented member by name and in the documented order (offsetof increasing), each
 * documented type name, each constant. Compiled as C (here) and as C++ (netmon_names_cxx.cpp),
 * so a missing or reordered name breaks the build. */
#include <netmon.h>

#include <stddef.h>

#ifdef __cplusplus
#define NMT_ASSERT(cond, what) static_assert(cond, what)
#else
#define NMT_ASSERT(cond, what) _Static_assert(cond, what)
#endif

/* Members a, b of type T: b comes after a. */
#define NMT_ORDER(T, a, b) NMT_ASSERT(offsetof(T, a) < offsetof(T, b), #T ": " #a " before " #b)
#define NMT_FIRST(T, a) NMT_ASSERT(offsetof(T, a) == 0, #T ": " #a " first")

/* EXPERTENUMINFO (expertenuminfo.md) */
NMT_FIRST(EXPERTENUMINFO, szName);
NMT_ORDER(EXPERTENUMINFO, szName, szVendor);
NMT_ORDER(EXPERTENUMINFO, szVendor, szDescription);
NMT_ORDER(EXPERTENUMINFO, szDescription, Version);
NMT_ORDER(EXPERTENUMINFO, Version, Flags);
NMT_ORDER(EXPERTENUMINFO, Flags, hExpert);
NMT_ORDER(EXPERTENUMINFO, hExpert, szDllName);
NMT_ORDER(EXPERTENUMINFO, szDllName, hModule);
NMT_ORDER(EXPERTENUMINFO, hModule, pRegisterProc);
NMT_ORDER(EXPERTENUMINFO, pRegisterProc, pConfigProc);
NMT_ORDER(EXPERTENUMINFO, pConfigProc, pRunProc);
NMT_ASSERT(sizeof(((EXPERTENUMINFO *)0)->szName) == EXPERTSTRINGLENGTH, "szName[EXPERTSTRINGLENGTH]");
NMT_ASSERT(sizeof(((EXPERTENUMINFO *)0)->szVendor) == EXPERTSTRINGLENGTH, "szVendor[EXPERTSTRINGLENGTH]");
NMT_ASSERT(sizeof(((EXPERTENUMINFO *)0)->szDescription) == EXPERTSTRINGLENGTH, "szDescription");
NMT_ASSERT(sizeof(((EXPERTENUMINFO *)0)->szDllName) == MAX_PATH, "szDllName[MAX_PATH]");

/* EXPERTCONFIG (expertconfig.md): RawConfigLength, then the data */
NMT_FIRST(EXPERTCONFIG, RawConfigLength);
NMT_ASSERT(offsetof(EXPERTCONFIG, RawConfigData) == sizeof(DWORD), "RawConfigData right after the length");

/* CONFIGUREDEXPERT (configuredexpert.md) */
NMT_FIRST(CONFIGUREDEXPERT, hExpert);
NMT_ORDER(CONFIGUREDEXPERT, hExpert, StartupFlags);
NMT_ORDER(CONFIGUREDEXPERT, StartupFlags, pConfig);

/* GROUPINFO (groupinfo.md) */
NMT_FIRST(GROUPINFO, szGroupName);
NMT_ORDER(GROUPINFO, szGroupName, hGroup);
NMT_ASSERT(sizeof(((GROUPINFO *)0)->szGroupName) == EXPERTGROUPNAMELENGTH + 1, "szGroupName");

/* EXPERTSTARTUPINFO (expertstartupinfo.md) */
NMT_FIRST(EXPERTSTARTUPINFO, Flags);
NMT_ORDER(EXPERTSTARTUPINFO, Flags, hCapture);
NMT_ORDER(EXPERTSTARTUPINFO, hCapture, szCaptureFile);
NMT_ORDER(EXPERTSTARTUPINFO, szCaptureFile, dwFrameNumber);
NMT_ORDER(EXPERTSTARTUPINFO, dwFrameNumber, hProtocol);
NMT_ORDER(EXPERTSTARTUPINFO, hProtocol, lpPropertyInst);
NMT_ORDER(EXPERTSTARTUPINFO, lpPropertyInst, sBitfield);
NMT_ASSERT(sizeof(((EXPERTSTARTUPINFO *)0)->szCaptureFile) == MAX_PATH, "szCaptureFile[MAX_PATH]");

/* EXPERTSTATUS (expertstatus.md) */
NMT_FIRST(EXPERTSTATUS, Status);
NMT_ORDER(EXPERTSTATUS, Status, SubStatus);
NMT_ORDER(EXPERTSTATUS, SubStatus, PercentDone);
NMT_ORDER(EXPERTSTATUS, PercentDone, Frame);
NMT_ORDER(EXPERTSTATUS, Frame, szStatusText);
NMT_ASSERT(sizeof(((EXPERTSTATUS *)0)->szStatusText) == EXPERTSTRINGLENGTH, "szStatusText");

/* FRAME (frame.md) */
NMT_FIRST(FRAME, TimeStamp);
NMT_ORDER(FRAME, TimeStamp, FrameLength);
NMT_ORDER(FRAME, FrameLength, nBytesAvail);
NMT_ORDER(FRAME, nBytesAvail, MacFrame);
NMT_ASSERT(sizeof(((FRAME *)0)->TimeStamp) == 8, "__int64 TimeStamp");

/* EXPERTFRAMEDESCRIPTOR (expertframedescriptor.md) */
NMT_FIRST(EXPERTFRAMEDESCRIPTOR, FrameNumber);
NMT_ORDER(EXPERTFRAMEDESCRIPTOR, FrameNumber, hFrame);
NMT_ORDER(EXPERTFRAMEDESCRIPTOR, hFrame, pFrame);
NMT_ORDER(EXPERTFRAMEDESCRIPTOR, pFrame, lpRecognizeDataTable);
NMT_ORDER(EXPERTFRAMEDESCRIPTOR, lpRecognizeDataTable, lpPropertyTable);

/* FILTEROBJECT (filterobject.md) */
NMT_FIRST(FILTEROBJECT, Action);
NMT_ORDER(FILTEROBJECT, Action, hProperty);
NMT_ORDER(FILTEROBJECT, hProperty, Value);
NMT_ASSERT(offsetof(FILTEROBJECT, Value) == offsetof(FILTEROBJECT, hProtocol), "one union");
NMT_ASSERT(offsetof(FILTEROBJECT, lpArray) == offsetof(FILTEROBJECT, lpOID), "one union");
NMT_ASSERT(offsetof(FILTEROBJECT, lpProtocolTable) == offsetof(FILTEROBJECT, lpAddress), "one union");
NMT_ASSERT(offsetof(FILTEROBJECT, lpLargeInt) == offsetof(FILTEROBJECT, lpTime), "one union");
NMT_ORDER(FILTEROBJECT, lpOID, ByteCount);
NMT_ASSERT(offsetof(FILTEROBJECT, ByteCount) == offsetof(FILTEROBJECT, ByteOffset), "one union");
NMT_ORDER(FILTEROBJECT, ByteOffset, pNext);

/* NMCOLUMNVARIANT (nmcolumnvariant.md), NMCOLUMNINFO / EVENTCOLUMNINFO (nmcolumninfo.md) */
NMT_FIRST(NMCOLUMNVARIANT, Type);
NMT_ORDER(NMCOLUMNVARIANT, Type, Value);
NMT_FIRST(NMCOLUMNINFO, szColumnName);
NMT_ORDER(NMCOLUMNINFO, szColumnName, VariantData);
NMT_ORDER(EVENTCOLUMNINFO, szColumnName, VariantData);
NMT_ASSERT(sizeof(((NMCOLUMNVARIANT *)0)->Value.MACAddrVal) == MAC_ADDRESS_SIZE, "MACAddrVal");

/* NMEVENTDATA (nmeventdata.md) */
NMT_FIRST(NMEVENTDATA, Version);
NMT_ORDER(NMEVENTDATA, Version, EventIdent);
NMT_ORDER(NMEVENTDATA, EventIdent, Flags);
NMT_ORDER(NMEVENTDATA, Flags, Severity);
NMT_ORDER(NMEVENTDATA, Severity, NumColumns);
NMT_ORDER(NMEVENTDATA, NumColumns, szSourceName);
NMT_ORDER(NMEVENTDATA, szSourceName, szEventName);
NMT_ORDER(NMEVENTDATA, szEventName, szDescription);
NMT_ORDER(NMEVENTDATA, szDescription, szMachine);
NMT_ORDER(NMEVENTDATA, szMachine, Justification);
NMT_ORDER(NMEVENTDATA, Justification, szUrl);
NMT_ORDER(NMEVENTDATA, szUrl, SysTime);
NMT_ORDER(NMEVENTDATA, SysTime, Column);
NMT_ASSERT(sizeof(((NMEVENTDATA *)0)->Version) == 1 && sizeof(((NMEVENTDATA *)0)->NumColumns) == 1, "BYTEs");

/* Every documented type, enumerator and constant, used once. */
int nmt_netmon_names_touch(void);
int nmt_netmon_names_touch(void) {
    HEXPERTKEY key = 0;
    PHEXPERTKEY pkey = &key;
    HEXPERT expert = 0;
    PHEXPERT pexpert = &expert;
    HRUNNINGEXPERT running = 0;
    PHRUNNINGEXPERT prunning = &running;
    HGROUP group = 0;
    PHGROUP pgroup = &group;
    HFILTER filter = 0;
    HCAPTURE capture = 0;
    HFRAME frame = 0;
    HPROTOCOL protocol = 0;
    HPROPERTY property = 0;
    HWND wnd = 0;
    HINSTANCE instance = 0;
    PEXPERTENUMINFO enuminfo = 0;
    PEXPERTCONFIG config = 0;
    PCONFIGUREDEXPERT configured = 0;
    PGROUPINFO groupinfo = 0;
    PEXPERTSTARTUPINFO startup = 0;
    PEXPERTSTATUS status = 0;
    LPEXPERTFRAMEDESCRIPTOR descriptor = 0;
    LPFRAME lpframe = 0;
    ULPFRAME ulpframe = 0;
    LPFILTEROBJECT filterobject = 0;
    PNMEVENTDATA event = 0;
    PEXPERTREGISTERPROC reg = 0;
    PEXPERTCONFIGPROC cfg = 0;
    PEXPERTRUNPROC run = 0;
    LPRECOGNIZEDATATABLE recognize = 0;
    LPPROPERTYTABLE properties = 0;
    LPPROPERTYINST propertyinst = 0;
    LPPROTOCOLTABLETYPE protocols = 0;
    LPADDRESS address = 0;
    ULPLARGEINT largeint = 0;
    ULPTIME time = 0;
    LPOBJECT_IDENTIFIER oid = 0;
    VALUETYPE value;
    FILTERACTIONTYPE action = FILTERACTION_PROPERTY;
    JTYPE justification = 0;
    IPX_ADDRESS ipx;
    SYSTEMTIME systime;
    DOUBLE d = 0;
    ULONG ul = 0;
    LPDWORD pdw = 0;
    SIZE_T size = 0;
    LPVOID pv = 0;
    LPSTR str = 0;
    LONG l = 0;
    EXPERTSTATUSENUMERATION s1 = EXPERTSTATUS_INACTIVE;
    EXPERT_STATUS_ENUMERATION s2 = EXPERTSTATUS_DONE;
    NMCOLUMNTYPE types[] = {NMCOLUMNTYPE_UINT8,  NMCOLUMNTYPE_SINT8,   NMCOLUMNTYPE_UINT16,    NMCOLUMNTYPE_SINT16,
                            NMCOLUMNTYPE_UINT32, NMCOLUMNTYPE_SINT32,  NMCOLUMNTYPE_FLOAT64,   NMCOLUMNTYPE_FRAME,
                            NMCOLUMNTYPE_YESNO,  NMCOLUMNTYPE_ONOFF,   NMCOLUMNTYPE_TRUEFALSE, NMCOLUMNTYPE_MACADDR,
                            NMCOLUMNTYPE_IPXADDR, NMCOLUMNTYPE_IPADDR, NMCOLUMNTYPE_VARTIME,   NMCOLUMNTYPE_STRING};
    FILTERACTIONTYPE actions[] = {
        FILTERACTION_PROPERTY,     FILTERACTION_PROPERTYEXIST,  FILTERACTION_VALUE,          FILTERACTION_STRING,
        FILTERACTION_ARRAY,        FILTERACTION_CONTAINSNC,     FILTERACTION_CONTAINS,       FILTERACTION_ADDRESS,
        FILTERACTION_ADDRESSANY,   FILTERACTION_FROM,           FILTERACTION_TO,             FILTERACTION_FROMTO,
        FILTERACTION_LARGEINT,     FILTERACTION_TIME,           FILTERACTION_ADDR_ETHER,     FILTERACTION_ADDR_TOKEN,
        FILTERACTION_ADDR_FDDI,    FILTERACTION_ADDR_IPX,       FILTERACTION_ADDR_IP,        FILTERACTION_OID,
        FILTERACTION_INVALID,      FILTERACTION_AND,            FILTERACTION_OR,             FILTERACTION_XOR,
        FILTERACTION_NOT,          FILTERACTION_EQUALNC,        FILTERACTION_EQUAL,          FILTERACTION_NOTEQUALNC,
        FILTERACTION_NOTEQUAL,     FILTERACTION_GREATERNC,      FILTERACTION_GREATER,        FILTERACTION_LESSNC,
        FILTERACTION_LESS,         FILTERACTION_GREATEREQUALNC, FILTERACTION_GREATEREQUAL,   FILTERACTION_LESSEQUALNC,
        FILTERACTION_LESSEQUAL,    FILTERACTION_PLUS,           FILTERACTION_MINUS,          FILTERACTION_AREBITSON,
        FILTERACTION_AREBITSOFF,   FILTERACTION_PROTOCOLSEXIST, FILTERACTION_PROTOCOLEXIST,  FILTERACTION_ARRAYEQUAL,
        FILTERACTION_DEREFPROPERTY, FILTERACTION_OID_CONTAINS,  FILTERACTION_OID_BEGINS_WITH, FILTERACTION_OID_ENDS_WITH,
        FILTERACTION_ADDR_VINES,   FILTERACTION_EXPRESSION,     FILTERACTION_BOOL};
    DWORD flags[] = {
        EXPERT_ENUM_FLAG_CONFIGURABLE, EXPERT_ENUM_FLAG_VIEWER_PRIVATE, EXPERT_ENUM_FLAG_NO_VIEWER,
        EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_SUMMARY, EXPERT_ENUM_FLAG_ADD_ME_TO_RMC_IN_DETAIL,
        EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA,
        EXPERTSUBSTATUS_ABORTED_USER, EXPERTSUBSTATUS_ABORTED_LOAD_FAIL, EXPERTSUBSTATUS_ABORTED_THREAD_FAIL,
        EXPERTSUBSTATUS_ABORTED_BAD_ENTRY,
        EVENT_FLAG_EXPERT, NMEVENTFLAG_EXPERT, NMEVENTFLAG_DO_NOT_DISPLAY_SEVERITY, NMEVENTFLAG_DO_NOT_DISPLAY_SOURCE,
        NMEVENTFLAG_DO_NOT_DISPLAY_EVENT_NAME, NMEVENTFLAG_DO_NOT_DISPLAY_DESCRIPTION,
        NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE, NMEVENTFLAG_DO_NOT_DISPLAY_TIME, NMEVENTFLAG_DO_NOT_DISPLAY_FIXED_COLUMNS,
        NMEVENT_SEVERITY_INFORMATIONAL, NMEVENT_SEVERITY_WARNING, NMEVENT_SEVERITY_STRONG_WARNING,
        NMEVENT_SEVERITY_ERROR, NMEVENT_SEVERITY_SEVERE_ERROR, NMEVENT_SEVERITY_CRITICAL_ERROR,
        GET_SPECIFIED_FRAME, GET_FRAME_NEXT_FORWARD, GET_FRAME_NEXT_BACKWARD, EXPERT_GET_SPECIFIED_FRAME,
        FLAGS_DEFER_TO_UI_FILTER, FLAGS_ATTACH_PROPERTIES, EXPERT_DEFER_TO_UI_FILTER, EXPERT_ATTACH_PROPERTIES,
        FILTER_DIRECTION_NEXT, FILTER_DIRECTION_PREV, DLL_PROCESS_ATTACH, MAX_PATH,
        NMERR_SUCCESS, NMERR_EXPERT_TERMINATE, EXPERTSTATUS_STARTING, EXPERTSTATUS_RUNNING, EXPERTSTATUS_PROBLEM,
        EXPERTSTATUS_ABORTED};
    NMT_ASSERT(NMEVENTFLAG_DO_NOT_DISPLAY_FIXED_COLUMNS ==
                   (NMEVENTFLAG_DO_NOT_DISPLAY_SEVERITY | NMEVENTFLAG_DO_NOT_DISPLAY_SOURCE |
                    NMEVENTFLAG_DO_NOT_DISPLAY_EVENT_NAME | NMEVENTFLAG_DO_NOT_DISPLAY_DESCRIPTION |
                    NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE | NMEVENTFLAG_DO_NOT_DISPLAY_TIME |
                    NMEVENTFLAG_DO_NOT_DISPLAY_DATE),
               "the fixed columns flag is the union of the others");
    NMT_ASSERT(NMCOLUMNTYPE_UINT8 == 0 && NMCOLUMNTYPE_STRING == 15, "NMCOLUMNTYPE values");
    NMT_ASSERT(EXPERTSTATUS_INACTIVE == 0 && EXPERTSTATUS_DONE == 5, "EXPERTSTATUSENUMERATION values");
    int n = 0;
    value.Dword = 0;
    ipx.Subnet[0] = 0;
    systime.wYear = 0;
    n += (int)(sizeof types / sizeof types[0]) + (int)(sizeof actions / sizeof actions[0]);
    n += (int)(sizeof flags / sizeof flags[0]);
    n += (pkey != 0) + (pexpert != 0) + (prunning != 0) + (pgroup != 0) + (filter == 0) + (capture == 0) +
         (frame == 0) + (protocol == 0) + (property == 0) + (wnd == 0) + (instance == 0) + (enuminfo == 0) +
         (config == 0) + (configured == 0) + (groupinfo == 0) + (startup == 0) + (status == 0) + (descriptor == 0) +
         (lpframe == 0) + (ulpframe == 0) + (filterobject == 0) + (event == 0) + (reg == 0) + (cfg == 0) +
         (run == 0) + (recognize == 0) + (properties == 0) + (propertyinst == 0) + (protocols == 0) +
         (address == 0) + (largeint == 0) + (time == 0) + (oid == 0) + (action == FILTERACTION_PROPERTY) +
         (justification == 0) + (d == 0) + (ul == 0) + (pdw == 0) + (size == 0) + (pv == 0) + (str == 0) + (l == 0) +
         (s1 == EXPERTSTATUS_INACTIVE) + (s2 == EXPERTSTATUS_DONE) + (value.Dword == 0) + (ipx.Subnet[0] == 0) +
         (systime.wYear == 0);
    return n;
}

/* The expert functions, with the signatures the reference pages give. */
typedef LPVOID (WINAPI *NMT_ALLOC)(HEXPERTKEY, SIZE_T, LPDWORD);
typedef LPVOID (WINAPI *NMT_REALLOC)(HEXPERTKEY, LPVOID, SIZE_T, LPDWORD);
typedef SIZE_T (WINAPI *NMT_FREE)(HEXPERTKEY, LPVOID);
typedef SIZE_T (WINAPI *NMT_SIZE)(HEXPERTKEY, LPVOID);
typedef DWORD (WINAPI *NMT_GETFRAME)(HEXPERTKEY, DWORD, DWORD, DWORD, HFILTER, LPEXPERTFRAMEDESCRIPTOR);
typedef DWORD (WINAPI *NMT_STARTUP)(HEXPERTKEY, PEXPERTSTARTUPINFO);
typedef DWORD (WINAPI *NMT_SUBMIT)(HEXPERTKEY, PNMEVENTDATA);
int nmt_netmon_functions_touch(void);
int nmt_netmon_functions_touch(void) {
    NMT_ALLOC a = ExpertAllocMemory;
    NMT_REALLOC r = ExpertReallocMemory;
    NMT_FREE f = ExpertFreeMemory;
    NMT_SIZE s = ExpertMemorySize;
    NMT_GETFRAME g = ExpertGetFrame;
    NMT_STARTUP st = ExpertGetStartupInfo;
    NMT_SUBMIT sub = ExpertSubmitEvent;
    return (a != 0) + (r != 0) + (f != 0) + (s != 0) + (g != 0) + (st != 0) + (sub != 0);
}
