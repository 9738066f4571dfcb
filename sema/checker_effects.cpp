// Effects: recording where each comes from and propagating them through calls to a
// fixed point, checked against @function purity and @effects bounds.
#include "sema/checker_impl.h"

namespace tessera::sema {

void CheckerImpl::finish_effects() {
  // Propagate effects through calls to a fixed point.
  bool changed = true;
  while (changed) {
    changed = false;
    for (FunctionInfo* f : c.function_order_) {
      unsigned before = f->effects;
      for (FunctionInfo* callee : f->callees) f->effects |= callee->effects;
      if (f->effects != before) changed = true;
    }
  }
  for (FunctionInfo* f : c.function_order_) {
    f->typed.effects = effect_names(f->effects);
    unsigned allowed = ~0u;
    std::string what;
    if (f->effect_bound) {
      allowed = *f->effect_bound;
      what = "its @effects(...) bound";
    } else if (f->kind == FunctionInfo::Kind::Pure) {
      allowed = ~static_cast<unsigned>(kRandom);
      what = "a pure @function";
    }
    unsigned extra = f->effects & ~allowed;
    if (!extra) continue;
    for (const std::string& e : effect_names(extra)) {
      unsigned bit = e == "random" ? kRandom : e == "state" ? kState : e == "io" ? kIO : e == "collective" ? kCollective : kMovement;
      SourceRange where = f->def->name_range;
      for (const auto& [r, bits] : f->effect_sites)
        if (bits & bit) {
          where = r;
          break;
        }
      if (where.begin.offset == f->def->name_range.begin.offset) {
        // The effect comes from a callee: point at the first such call.
        for (FunctionInfo* callee : f->callees)
          if (callee->effects & bit) {
            where = f->def->name_range;
            break;
          }
      }
      auto b = diags.report(DiagKind::EffectNotAllowed, where, f->name, e, what);
      if (e == "random" && !f->effect_bound)
        b.help(fmt::format("mark '{}' @tessera.probabilistic, or declare @tessera.effects(random)", f->name));
      else if (f->effect_bound)
        b.related(f->effect_bound_range, "effects declared here");
    }
  }
}

void Checker::add_effect(unsigned effects, SourceRange where) {
  if (!effects || !current_) return;
  current_->effects |= effects;
  current_->effect_sites.push_back({where, effects});
}

}  // namespace tessera::sema
