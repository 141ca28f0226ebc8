/* refdoc_expert.c - an expert written from Network Monitor 2.x's expert documentation alone: only
 * the names, structures and calls its pages give (no nmleak extension). The tests build it
 * unchanged as C and as C++ (refdoc_expert_cxx.cpp includes this file).
 *
 * Configure makes its configuration with ExpertAllocMemory, or grows an older, shorter one with
 * ExpertReallocMemory. Run checks its startup information against ExpertGetStartupInfo, reads
 * every frame from the first (GET_SPECIFIED_FRAME 0, then GET_FRAME_NEXT_FORWARD), submits an
 * event for each frame longer than the configured threshold and a summary event with a column of
 * every NMCOLUMNTYPE, and leaks on purpose: the note it keeps for each long frame is never freed. */
#include <netmon.h>

#include <stdio.h>
#include <string.h>

#ifdef __cplusplus
#define REFDOC_EXPORT extern "C" __attribute__((visibility("default")))
#define REFDOC_NAME "refdoc-cxx"
#else
#define REFDOC_EXPORT __attribute__((visibility("default")))
#define REFDOC_NAME "refdoc-c"
#endif

/* The configuration, overlaid on EXPERTCONFIG as the EXPERTCONFIG page shows. Version 1 of it
 * ended after LongFrameBytes; Configure grows such a one. */
typedef struct {
    DWORD RawConfigLength; /* overlay of EXPERTCONFIG */
    DWORD LongFrameBytes;  /* frames longer than this get an event */
    DWORD TimesConfigured;
    DWORD MaxEvents;       /* long-frame events at most */
} REFDOCCONFIG;
typedef REFDOCCONFIG *LPREFDOCCONFIG;

typedef struct LONGFRAMENOTE {
    DWORD FrameNumber;
    DWORD FrameLength;
    struct LONGFRAMENOTE *next;
} LONGFRAMENOTE;

REFDOC_EXPORT BOOL WINAPI Register(PEXPERTENUMINFO pExpertInfo) {
    strncpy(pExpertInfo->szName, REFDOC_NAME, EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertInfo->szVendor, "written from the reference pages", EXPERTSTRINGLENGTH - 1);
    strncpy(pExpertInfo->szDescription, "long frames (leaks a note per long frame)", EXPERTSTRINGLENGTH - 1);
    pExpertInfo->Version = 0;
    pExpertInfo->Flags = EXPERT_ENUM_FLAG_CONFIGURABLE;
    return TRUE;
}

REFDOC_EXPORT BOOL WINAPI Configure(HEXPERTKEY hExpertKey, PEXPERTCONFIG *ppConfig,
                                    PEXPERTSTARTUPINFO pExpertStartupInfo, DWORD StartupFlags, HWND hWnd) {
    DWORD err = NMERR_SUCCESS;
    LPREFDOCCONFIG cfg = (LPREFDOCCONFIG)(*ppConfig);
    (void)pExpertStartupInfo;
    (void)StartupFlags;
    (void)hWnd; /* no dialog box on this platform: the defaults are the user's choice */
    if (!cfg) {
        cfg = (LPREFDOCCONFIG)ExpertAllocMemory(hExpertKey, sizeof(REFDOCCONFIG), &err);
        if (!cfg) return FALSE;
        memset(cfg, 0, sizeof *cfg);
        cfg->LongFrameBytes = 100;
    } else if (cfg->RawConfigLength < sizeof(REFDOCCONFIG)) {
        DWORD old_length = cfg->RawConfigLength;
        cfg = (LPREFDOCCONFIG)ExpertReallocMemory(hExpertKey, cfg, sizeof(REFDOCCONFIG), &err);
        if (!cfg) return FALSE;
        memset((BYTE *)cfg + old_length, 0, sizeof(REFDOCCONFIG) - old_length); /* the new members */
    }
    cfg->RawConfigLength = sizeof(REFDOCCONFIG);
    cfg->TimesConfigured++;
    if (!cfg->MaxEvents) cfg->MaxEvents = 8;
    *ppConfig = (PEXPERTCONFIG)cfg;
    return TRUE;
}

static DWORD submit_long_frame(HEXPERTKEY hExpertKey, const EXPERTFRAMEDESCRIPTOR *d, DWORD threshold) {
    DOUBLE buffer[(sizeof(NMEVENTDATA) + 2 * sizeof(NMCOLUMNINFO)) / sizeof(DOUBLE) + 1]; /* aligned */
    NMEVENTDATA *ev = (NMEVENTDATA *)buffer;
    char description[128];
    memset(buffer, 0, sizeof buffer);
    snprintf(description, sizeof description, "frame %u is %u bytes long, more than %u", d->FrameNumber,
             d->pFrame->FrameLength, threshold);
    ev->Version = 0;
    ev->EventIdent = 1;
    ev->Flags = EVENT_FLAG_EXPERT;
    ev->Severity = NMEVENT_SEVERITY_WARNING;
    ev->NumColumns = 2;
    ev->szSourceName = (LPSTR)REFDOC_NAME;
    ev->szEventName = (LPSTR) "Long frame";
    ev->szDescription = description;
    ev->szMachine = NULL;
    ev->Justification = NULL;
    ev->szUrl = NULL;
    ev->Column[0].szColumnName = (LPSTR) "Frame";
    ev->Column[0].VariantData.Type = NMCOLUMNTYPE_FRAME;
    ev->Column[0].VariantData.Value.FrameVal = d->FrameNumber;
    ev->Column[1].szColumnName = (LPSTR) "Length";
    ev->Column[1].VariantData.Type = NMCOLUMNTYPE_UINT32;
    ev->Column[1].VariantData.Value.Uint32Val = d->pFrame->FrameLength;
    return ExpertSubmitEvent(hExpertKey, ev);
}

static DWORD submit_summary(HEXPERTKEY hExpertKey, DWORD frames, DWORD long_frames, BOOL startup_matches,
                            BOOL from_startup, const char *capture) {
    DOUBLE buffer[(sizeof(NMEVENTDATA) + 16 * sizeof(NMCOLUMNINFO)) / sizeof(DOUBLE) + 1]; /* aligned */
    NMEVENTDATA *ev = (NMEVENTDATA *)buffer;
    static const BYTE mac[MAC_ADDRESS_SIZE] = {0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e};
    static const BYTE ip[4] = {192, 168, 7, 1};
    char description[160];
    int i = 0;
    memset(buffer, 0, sizeof buffer);
    snprintf(description, sizeof description, "%u frames read, %u longer than the threshold", frames, long_frames);
    ev->Version = 0;
    ev->EventIdent = 2;
    ev->Flags = EVENT_FLAG_EXPERT | NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE;
    ev->Severity = NMEVENT_SEVERITY_INFORMATIONAL;
    ev->szSourceName = (LPSTR)REFDOC_NAME;
    ev->szEventName = (LPSTR) "Capture summary";
    ev->szDescription = description;
    ev->Justification = (JTYPE) "Every frame of the capture was read once, in order.";
    ev->SysTime.wYear = 1999;
    ev->SysTime.wMonth = 12;
    ev->SysTime.wDay = 31;
    ev->SysTime.wDayOfWeek = 5;
    ev->SysTime.wHour = 23;
    ev->SysTime.wMinute = 59;
    ev->SysTime.wSecond = 58;
#define REFDOC_COLUMN(NAME, TYPE) (ev->Column[i].szColumnName = (LPSTR)(NAME), ev->Column[i].VariantData.Type = (TYPE))
    REFDOC_COLUMN("UINT8", NMCOLUMNTYPE_UINT8); ev->Column[i++].VariantData.Value.Uint8Val = 200;
    REFDOC_COLUMN("SINT8", NMCOLUMNTYPE_SINT8); ev->Column[i++].VariantData.Value.Sint8Val = -8;
    REFDOC_COLUMN("UINT16", NMCOLUMNTYPE_UINT16); ev->Column[i++].VariantData.Value.Uint16Val = 65000;
    REFDOC_COLUMN("SINT16", NMCOLUMNTYPE_SINT16); ev->Column[i++].VariantData.Value.Sint16Val = -1600;
    REFDOC_COLUMN("Frames", NMCOLUMNTYPE_UINT32); ev->Column[i++].VariantData.Value.Uint32Val = frames;
    REFDOC_COLUMN("SINT32", NMCOLUMNTYPE_SINT32); ev->Column[i++].VariantData.Value.Sint32Val = -320000;
    REFDOC_COLUMN("FLOAT64", NMCOLUMNTYPE_FLOAT64); ev->Column[i++].VariantData.Value.Float64Val = 0.25;
    REFDOC_COLUMN("Last frame", NMCOLUMNTYPE_FRAME); ev->Column[i++].VariantData.Value.FrameVal = frames ? frames - 1 : 0;
    REFDOC_COLUMN("Startup info matches", NMCOLUMNTYPE_YESNO); ev->Column[i++].VariantData.Value.YesNoVal = startup_matches;
    REFDOC_COLUMN("From startup data", NMCOLUMNTYPE_ONOFF); ev->Column[i++].VariantData.Value.OnOffVal = from_startup;
    REFDOC_COLUMN("TRUEFALSE", NMCOLUMNTYPE_TRUEFALSE); ev->Column[i++].VariantData.Value.TrueFalseVal = TRUE;
    REFDOC_COLUMN("MACADDR", NMCOLUMNTYPE_MACADDR); memcpy(ev->Column[i++].VariantData.Value.MACAddrVal, mac, sizeof mac);
    REFDOC_COLUMN("IPXADDR", NMCOLUMNTYPE_IPXADDR);
    memcpy(ev->Column[i].VariantData.Value.IPXAddrVal.Subnet, ip, 4);
    memcpy(ev->Column[i++].VariantData.Value.IPXAddrVal.Address, mac, sizeof mac);
    REFDOC_COLUMN("IPADDR", NMCOLUMNTYPE_IPADDR); memcpy(&ev->Column[i++].VariantData.Value.IPAddrVal, ip, 4);
    REFDOC_COLUMN("VARTIME", NMCOLUMNTYPE_VARTIME); ev->Column[i++].VariantData.Value.VarTimeVal = 36526.5; /* 2000-01-01 12:00 */
    REFDOC_COLUMN("Capture", NMCOLUMNTYPE_STRING); ev->Column[i++].VariantData.Value.pStringVal = (LPSTR)capture;
#undef REFDOC_COLUMN
    ev->NumColumns = (BYTE)i;
    return ExpertSubmitEvent(hExpertKey, ev);
}

REFDOC_EXPORT BOOL WINAPI Run(HEXPERTKEY hExpertKey, PEXPERTCONFIG pConfig, PEXPERTSTARTUPINFO pExpertStartupInfo,
                              DWORD StartupFlags, HWND hWndParent) {
    LPREFDOCCONFIG cfg = (LPREFDOCCONFIG)pConfig;
    EXPERTSTARTUPINFO info;
    EXPERTFRAMEDESCRIPTOR d;
    LONGFRAMENOTE *notes = NULL;
    DWORD threshold = 100, max_events = 8, frames = 0, long_frames = 0, first = 0, rc, err = NMERR_SUCCESS;
    BOOL matches, from_startup = FALSE;
    (void)hWndParent;

    memset(&info, 0, sizeof info);
    if (ExpertGetStartupInfo(hExpertKey, &info) != NMERR_SUCCESS) return FALSE;
    matches = pExpertStartupInfo && strcmp(info.szCaptureFile, pExpertStartupInfo->szCaptureFile) == 0 &&
              info.Flags == pExpertStartupInfo->Flags && info.dwFrameNumber == pExpertStartupInfo->dwFrameNumber;
    if ((StartupFlags & EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA) || !cfg) {
        from_startup = (StartupFlags & EXPERT_STARTUP_FLAG_USE_STARTUP_DATA_OVER_CONFIG_DATA) != 0;
        if (from_startup && info.dwFrameNumber != INVALID_FRAME_NUMBER) first = info.dwFrameNumber;
    } else {
        if (cfg->RawConfigLength < sizeof(REFDOCCONFIG)) return FALSE;
        threshold = cfg->LongFrameBytes;
        max_events = cfg->MaxEvents;
    }

    memset(&d, 0, sizeof d);
    rc = ExpertGetFrame(hExpertKey, GET_SPECIFIED_FRAME, 0, first, NULL, &d);
    while (rc == NMERR_SUCCESS) {
        frames++;
        if (d.pFrame->FrameLength > threshold) {
            LONGFRAMENOTE *note = (LONGFRAMENOTE *)ExpertAllocMemory(hExpertKey, sizeof(LONGFRAMENOTE), &err);
            if (!note) break;
            note->FrameNumber = d.FrameNumber;
            note->FrameLength = d.pFrame->FrameLength;
            note->next = notes;
            notes = note; /* the list is dropped at the end, never freed: the leak */
            if (long_frames++ < max_events && submit_long_frame(hExpertKey, &d, threshold) == NMERR_EXPERT_TERMINATE)
                return FALSE;
        }
        if (ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_RUNNING, 0, (char *)"reading frames",
                                 (LONG)(frames % 100)) == NMERR_EXPERT_TERMINATE)
            return FALSE;
        rc = ExpertGetFrame(hExpertKey, GET_FRAME_NEXT_FORWARD, 0, d.FrameNumber, NULL, &d);
    }
    if (rc != NMERR_NO_MORE_FRAMES && rc != NMERR_SUCCESS) return FALSE;
    if (submit_summary(hExpertKey, frames, long_frames, matches, from_startup, info.szCaptureFile) != NMERR_SUCCESS)
        return FALSE;
    ExpertIndicateStatus(hExpertKey, EXPERTSTATUS_DONE, 0, (char *)"done", 100);
    return TRUE;
}
