// test_expert_events.cpp - ExpertSubmitEvent: what is recorded per key, the rendering of every
// column type, and bad input (NULL, wild pointers, too many columns, bad strings, bad Version,
// bad severity or time) refused with a clear code and nothing recorded; after terminate refused.
#include <netmon.h>
#include <nmhost.h>

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "track/events.hpp"
#include "track/query.hpp"

namespace {

using nm::track::EventStore;
using nm::track::KeyEvents;

// An NMEVENTDATA with room for n columns (aligned for its pointers and doubles).
struct EventBuf {
    explicit EventBuf(size_t n) : words((sizeof(NMEVENTDATA) + n * sizeof(NMCOLUMNINFO)) / 8 + 1) {
        std::memset(words.data(), 0, words.size() * 8);
        ev()->szSourceName = const_cast<LPSTR>("unit");
        ev()->szEventName = const_cast<LPSTR>("Something");
        ev()->Severity = NMEVENT_SEVERITY_WARNING;
    }
    NMEVENTDATA *ev() { return reinterpret_cast<NMEVENTDATA *>(words.data()); }
    std::vector<uint64_t> words;
};

uint64_t id_of(HEXPERTKEY key, const char *name) {
    nm::track::Reading r;
    nm::track::Query::read(r, false);
    for (const auto &k : r.open)
        if (k.name == name && nm::track::Query::handle_for_id(k.id) == key) return k.id;
    return 0;
}

KeyEvents events_of(uint64_t id) {
    KeyEvents k;
    EventStore::get().read(id, &k);
    return k;
}

class Events : public ::testing::Test {
protected:
    void SetUp() override {
        name_ = std::string("events-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
        key_ = NmOpenExpertKey(name_.c_str());
        ASSERT_NE(key_, nullptr);
        id_ = id_of(key_, name_.c_str());
        ASSERT_NE(id_, 0u);
    }
    void TearDown() override {
        if (key_) NmCloseExpertKey(key_, NM_OUTCOME_DONE, nullptr);
    }
    size_t kept() {
        size_t n = 0;
        uint64_t dropped = 0;
        EventStore::get().counts(id_, &n, &dropped);
        return n;
    }
    std::string name_;
    HEXPERTKEY key_ = nullptr;
    uint64_t id_ = 0;
};

TEST_F(Events, AnEventIsRecordedWithEveryField) {
    EventBuf b(2);
    NMEVENTDATA *e = b.ev();
    e->EventIdent = 42;
    e->Flags = EVENT_FLAG_EXPERT | NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE;
    e->Severity = NMEVENT_SEVERITY_ERROR;
    e->szDescription = const_cast<LPSTR>("retransmission storm");
    e->szMachine = const_cast<LPSTR>("host-a");
    e->Justification = const_cast<JTYPE>("42 retransmits in 1 s");
    e->szUrl = const_cast<LPSTR>("https://example.invalid/42");
    e->SysTime = SYSTEMTIME{2024, 2, 4, 29, 13, 14, 15, 678}; // a leap day, a Thursday
    e->NumColumns = 2;
    e->Column[0].szColumnName = const_cast<LPSTR>("Frame");
    e->Column[0].VariantData.Type = NMCOLUMNTYPE_FRAME;
    e->Column[0].VariantData.Value.FrameVal = 17;
    e->Column[1].szColumnName = const_cast<LPSTR>("Peer");
    e->Column[1].VariantData.Type = NMCOLUMNTYPE_STRING;
    e->Column[1].VariantData.Value.pStringVal = const_cast<LPSTR>("10.0.0.2:80");
    ASSERT_EQ(ExpertSubmitEvent(key_, e), DWORD(NMERR_SUCCESS));
    KeyEvents k = events_of(id_);
    ASSERT_EQ(k.events.size(), 1u);
    const nm::track::EventRecord &r = k.events[0];
    EXPECT_EQ(r.ident, 42u);
    EXPECT_EQ(r.flags, DWORD(EVENT_FLAG_EXPERT | NMEVENTFLAG_DO_NOT_DISPLAY_MACHINE));
    EXPECT_EQ(r.severity, 3u);
    EXPECT_EQ(r.source, "unit");
    EXPECT_EQ(r.name, "Something");
    EXPECT_EQ(r.description, "retransmission storm");
    EXPECT_EQ(r.machine, "host-a");
    EXPECT_EQ(r.justification, "42 retransmits in 1 s");
    EXPECT_EQ(r.url, "https://example.invalid/42");
    EXPECT_EQ(r.event_unix_ms, 1709212455678ull) << "2024-02-29 13:14:15.678 UTC";
    ASSERT_EQ(r.columns.size(), 2u);
    EXPECT_EQ(r.columns[0].name, "Frame");
    EXPECT_EQ(r.columns[0].type, uint32_t(NMCOLUMNTYPE_FRAME));
    EXPECT_EQ(r.columns[0].value, "17");
    EXPECT_EQ(r.columns[1].value, "10.0.0.2:80");
    EXPECT_LE(r.time_ms, nm::track::Query::now_ms());
    EXPECT_EQ(k.dropped, 0u);
}

TEST_F(Events, EveryColumnTypeIsRendered) {
    EventBuf b(16);
    NMEVENTDATA *e = b.ev();
    auto set = [&](int i, NMCOLUMNTYPE t) {
        e->Column[i].szColumnName = const_cast<LPSTR>("c");
        e->Column[i].VariantData.Type = t;
        return &e->Column[i].VariantData.Value;
    };
    set(0, NMCOLUMNTYPE_UINT8)->Uint8Val = 255;
    set(1, NMCOLUMNTYPE_SINT8)->Sint8Val = -128;
    set(2, NMCOLUMNTYPE_UINT16)->Uint16Val = 65535;
    set(3, NMCOLUMNTYPE_SINT16)->Sint16Val = -32768;
    set(4, NMCOLUMNTYPE_UINT32)->Uint32Val = 4294967295u;
    set(5, NMCOLUMNTYPE_SINT32)->Sint32Val = -2147483647 - 1;
    set(6, NMCOLUMNTYPE_FLOAT64)->Float64Val = 0.1;
    set(7, NMCOLUMNTYPE_FRAME)->FrameVal = 9;
    set(8, NMCOLUMNTYPE_YESNO)->YesNoVal = TRUE;
    set(9, NMCOLUMNTYPE_ONOFF)->OnOffVal = FALSE;
    set(10, NMCOLUMNTYPE_TRUEFALSE)->TrueFalseVal = 7; // any non-zero BOOL is true
    const BYTE mac[6] = {0x00, 0x1b, 0x21, 0xab, 0xcd, 0xef};
    std::memcpy(set(11, NMCOLUMNTYPE_MACADDR)->MACAddrVal, mac, 6);
    auto *ipx = set(12, NMCOLUMNTYPE_IPXADDR);
    const BYTE net[4] = {0, 0, 0x12, 0x34};
    std::memcpy(ipx->IPXAddrVal.Subnet, net, 4);
    std::memcpy(ipx->IPXAddrVal.Address, mac, 6);
    const BYTE ip[4] = {192, 168, 1, 20};
    std::memcpy(&set(13, NMCOLUMNTYPE_IPADDR)->IPAddrVal, ip, 4);
    set(14, NMCOLUMNTYPE_VARTIME)->VarTimeVal = 36526.75; // 2000-01-01 18:00
    set(15, NMCOLUMNTYPE_STRING)->pStringVal = const_cast<LPSTR>("text");
    e->NumColumns = 16;
    ASSERT_EQ(ExpertSubmitEvent(key_, e), DWORD(NMERR_SUCCESS));
    KeyEvents k = events_of(id_);
    ASSERT_EQ(k.events.size(), 1u);
    std::vector<std::string> got;
    for (const auto &c : k.events[0].columns) got.push_back(c.value);
    const std::vector<std::string> want = {"255",   "-128", "65535", "-32768", "4294967295", "-2147483648",
                                           "0.10000000000000001", "9", "Yes", "Off", "True",
                                           "00:1b:21:ab:cd:ef", "00001234.001b21abcdef", "192.168.1.20",
                                           "2000-01-01 18:00:00.000", "text"};
    EXPECT_EQ(got, want);
    for (uint32_t i = 0; i < 16; ++i) EXPECT_EQ(k.events[0].columns[i].type, i);
}

TEST_F(Events, NonUtf8TextIsTakenAsLatin1) {
    EventBuf b(0);
    char text[] = "Gr\xf6\xdf" "e";
    b.ev()->szDescription = text;
    ASSERT_EQ(ExpertSubmitEvent(key_, b.ev()), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(events_of(id_).events.at(0).description, "Gr\xc3\xb6\xc3\x9f" "e");
    EXPECT_EQ(nm::track::to_utf8("caf\xc3\xa9"), "caf\xc3\xa9") << "valid UTF-8 stays as it is";
}

TEST_F(Events, BadEventsAreRefusedAndChangeNothing) {
    EXPECT_EQ(ExpertSubmitEvent(key_, nullptr), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(ExpertSubmitEvent(key_, reinterpret_cast<PNMEVENTDATA>(0x10)), DWORD(NMERR_INVALID_PARAMETER))
        << "a wild pointer is an error, not a crash";

    // A page that cannot be read, for strings and columns that point into it.
    const long page = sysconf(_SC_PAGESIZE);
    char *guard = static_cast<char *>(mmap(nullptr, size_t(page) * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(guard, MAP_FAILED);
    ASSERT_EQ(mprotect(guard + page, size_t(page), PROT_NONE), 0);
    char *unterminated = guard + page - 3; // "abc" running into the unreadable page
    std::memcpy(unterminated, "abc", 3);
    std::string too_long(NM_EVENT_MAX_STRING + 1, 'x');
    std::string longest(NM_EVENT_MAX_STRING, 'y');

    struct Case {
        const char *what;
        void (*spoil)(NMEVENTDATA *, char *, const char *);
        DWORD want;
    };
    static char *s_unterminated;
    static const char *s_too_long;
    s_unterminated = unterminated;
    s_too_long = too_long.c_str();
    const Case cases[] = {
        {"Version 1", [](NMEVENTDATA *e, char *, const char *) { e->Version = 1; }, NMERR_NOT_SUPPORTED},
        {"severity 6", [](NMEVENTDATA *e, char *, const char *) { e->Severity = 6; }, NMERR_INVALID_PARAMETER},
        {"33 columns", [](NMEVENTDATA *e, char *, const char *) { e->NumColumns = NM_EVENT_MAX_COLUMNS + 1; },
         NMERR_INVALID_PARAMETER},
        {"255 columns", [](NMEVENTDATA *e, char *, const char *) { e->NumColumns = 255; }, NMERR_INVALID_PARAMETER},
        {"unreadable name", [](NMEVENTDATA *e, char *, const char *) { e->szEventName = reinterpret_cast<LPSTR>(0x18); },
         NMERR_INVALID_PARAMETER},
        {"unterminated description", [](NMEVENTDATA *e, char *u, const char *) { e->szDescription = u; },
         NMERR_INVALID_PARAMETER},
        {"too long source", [](NMEVENTDATA *e, char *, const char *t) { e->szSourceName = const_cast<LPSTR>(t); },
         NMERR_INVALID_PARAMETER},
        {"bad justification", [](NMEVENTDATA *e, char *u, const char *) { e->Justification = u; },
         NMERR_INVALID_PARAMETER},
        {"bad url", [](NMEVENTDATA *e, char *, const char *) { e->szUrl = reinterpret_cast<LPSTR>(~uintptr_t(0) - 8); },
         NMERR_INVALID_PARAMETER},
        {"bad column type", [](NMEVENTDATA *e, char *, const char *) {
             e->NumColumns = 1;
             const uint32_t bad_type = 16; // stored as an expert's C code could: not a valid enumerator
             std::memcpy(&e->Column[0].VariantData.Type, &bad_type, sizeof bad_type);
         }, NMERR_INVALID_PARAMETER},
        {"bad column name", [](NMEVENTDATA *e, char *u, const char *) {
             e->NumColumns = 1;
             e->Column[0].szColumnName = u;
         }, NMERR_INVALID_PARAMETER},
        {"bad string column", [](NMEVENTDATA *e, char *, const char *) {
             e->NumColumns = 1;
             e->Column[0].VariantData.Type = NMCOLUMNTYPE_STRING;
             e->Column[0].VariantData.Value.pStringVal = reinterpret_cast<LPSTR>(0x28);
         }, NMERR_INVALID_PARAMETER},
        {"month 13", [](NMEVENTDATA *e, char *, const char *) { e->SysTime = SYSTEMTIME{2024, 13, 0, 1, 0, 0, 0, 0}; },
         NMERR_INVALID_PARAMETER},
        {"February 30", [](NMEVENTDATA *e, char *, const char *) { e->SysTime = SYSTEMTIME{2023, 2, 0, 29, 0, 0, 0, 0}; },
         NMERR_INVALID_PARAMETER},
    };
    for (const Case &c : cases) {
        EventBuf b(1);
        c.spoil(b.ev(), s_unterminated, s_too_long);
        EXPECT_EQ(ExpertSubmitEvent(key_, b.ev()), c.want) << c.what;
    }
    // Columns that run into an unreadable page: NumColumns claims more than there is.
    NMEVENTDATA *at_edge = reinterpret_cast<NMEVENTDATA *>(guard + page - sizeof(NMEVENTDATA));
    std::memset(at_edge, 0, sizeof(NMEVENTDATA));
    at_edge->NumColumns = 1;
    EXPECT_EQ(ExpertSubmitEvent(key_, at_edge), DWORD(NMERR_INVALID_PARAMETER));
    EXPECT_EQ(kept(), 0u) << "no refused event was recorded";

    // The limits themselves are fine.
    EventBuf ok(NM_EVENT_MAX_COLUMNS);
    ok.ev()->NumColumns = NM_EVENT_MAX_COLUMNS;
    for (int i = 0; i < NM_EVENT_MAX_COLUMNS; ++i) ok.ev()->Column[i].szColumnName = const_cast<LPSTR>("n");
    ok.ev()->szDescription = const_cast<LPSTR>(longest.c_str());
    EXPECT_EQ(ExpertSubmitEvent(key_, ok.ev()), DWORD(NMERR_SUCCESS));
    std::memcpy(unterminated, "ab", 3); // "ab\0" ends right at the page's end: readable
    ok.ev()->szSourceName = unterminated;
    EXPECT_EQ(ExpertSubmitEvent(key_, ok.ev()), DWORD(NMERR_SUCCESS));
    KeyEvents k = events_of(id_);
    ASSERT_EQ(k.events.size(), 2u);
    EXPECT_EQ(k.events[0].columns.size(), size_t(NM_EVENT_MAX_COLUMNS));
    EXPECT_EQ(k.events[0].description, longest);
    EXPECT_EQ(k.events[1].source, "ab");
    munmap(guard, size_t(page) * 2);
}

TEST_F(Events, RefusedAfterTerminateAndForBadKeys) {
    EventBuf b(0);
    ASSERT_EQ(ExpertSubmitEvent(key_, b.ev()), DWORD(NMERR_SUCCESS));
    ASSERT_EQ(NmRequestExpertTerminate(key_), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertSubmitEvent(key_, b.ev()), DWORD(NMERR_EXPERT_TERMINATE));
    EXPECT_EQ(ExpertSubmitEvent(key_, nullptr), DWORD(NMERR_EXPERT_TERMINATE)) << "terminate is said first";
    EXPECT_EQ(kept(), 1u);
    ASSERT_EQ(NmCloseExpertKey(key_, NM_OUTCOME_TERMINATED, nullptr), DWORD(NMERR_SUCCESS));
    EXPECT_EQ(ExpertSubmitEvent(key_, b.ev()), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    key_ = nullptr;
    EXPECT_EQ(kept(), 1u) << "a closed key's events stay for the reports";
    EXPECT_EQ(ExpertSubmitEvent(nullptr, b.ev()), DWORD(NMERR_INVALID_EXPERT_HANDLE));
    EXPECT_EQ(ExpertSubmitEvent(reinterpret_cast<HEXPERTKEY>(0xdeadbeef), b.ev()), DWORD(NMERR_INVALID_EXPERT_HANDLE));
}

TEST_F(Events, ManyThreadsOneKeyAndTheBound) {
    constexpr int kThreads = 4, kEach = 3000; // 12000: past NM_EVENT_MAX_PER_KEY
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            EventBuf b(1);
            b.ev()->NumColumns = 1;
            b.ev()->Column[0].szColumnName = const_cast<LPSTR>("thread");
            b.ev()->Column[0].VariantData.Type = NMCOLUMNTYPE_UINT32;
            b.ev()->Column[0].VariantData.Value.Uint32Val = DWORD(t);
            for (int i = 0; i < kEach; ++i)
                if (ExpertSubmitEvent(key_, b.ev()) != NMERR_SUCCESS) ++failures;
        });
    for (auto &th : threads) th.join();
    EXPECT_EQ(failures.load(), 0) << "past the bound events are dropped, not refused";
    size_t n = 0;
    uint64_t dropped = 0;
    EventStore::get().counts(id_, &n, &dropped);
    EXPECT_EQ(n, size_t(NM_EVENT_MAX_PER_KEY));
    EXPECT_EQ(dropped, uint64_t(kThreads * kEach - NM_EVENT_MAX_PER_KEY));
}

} // namespace
