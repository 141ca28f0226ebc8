// model_strings.cpp - the names the model's enums have in reports, JSON and the GUI.
#include "nmleak/model.hpp"

namespace nm::model {

const char *to_string(Outcome o) {
    switch (o) {
    case Outcome::Done: return "done";
    case Outcome::Failed: return "failed";
    case Outcome::Terminated: return "terminated";
    case Outcome::Crashed: return "crashed";
    case Outcome::Timeout: return "timeout";
    }
    return "unknown";
}

const char *to_string(MisuseKind k) {
    switch (k) {
    case MisuseKind::DoubleFree: return "double_free";
    case MisuseKind::UnknownPointer: return "unknown_pointer";
    case MisuseKind::InteriorPointer: return "interior_pointer";
    case MisuseKind::ForeignKey: return "foreign_key";
    case MisuseKind::CorruptHeader: return "corrupt_header";
    case MisuseKind::MismatchedFree: return "mismatched_free";
    }
    return "unknown";
}

const char *to_string(ExpertState s) {
    switch (s) {
    case ExpertState::Running: return "running";
    case ExpertState::TerminateRequested: return "terminate_requested";
    case ExpertState::Closed: return "closed";
    }
    return "unknown";
}

const char *to_string(KeyKind k) {
    switch (k) {
    case KeyKind::Expert: return "expert";
    case KeyKind::Module: return "module";
    }
    return "unknown";
}

const char *to_string(Reach r) {
    switch (r) {
    case Reach::Unknown: return "unknown";
    case Reach::Reachable: return "reachable";
    case Reach::IndirectlyLost: return "indirectly_lost";
    case Reach::DefinitelyLost: return "definitely_lost";
    }
    return "unknown";
}

const char *to_string(BlockOrigin o) {
    switch (o) {
    case BlockOrigin::Api: return "api";
    case BlockOrigin::Heap: return "heap";
    }
    return "unknown";
}

std::string state_label(const Expert &e) {
    return e.state == ExpertState::Closed ? to_string(e.outcome) : to_string(e.state);
}

} // namespace nm::model
