// Abseil's containers on a std::pmr::polymorphic_allocator, named the way
// std::pmr names the standard ones: strata::pmr::flat_hash_map is to
// absl::flat_hash_map what std::pmr::unordered_map is to std::unordered_map.
// Give them a memory resource at construction and every node, slot array and
// inline overflow comes from it.
//
// Thread safety: as the containers' and the resource's.
//
// Example:
//
//   strata::size_class_resource slabs;
//   strata::pmr::flat_hash_map<int, std::pmr::string> names(&slabs);
//   names.try_emplace(7, "seven");          // slots from slabs
//   strata::pmr::InlinedVector<int, 4> small(&slabs);
#ifndef STRATA_ADAPTERS_PMR_CONTAINERS_H_
#define STRATA_ADAPTERS_PMR_CONTAINERS_H_

#include <functional>
#include <memory_resource>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/container/node_hash_set.h"

namespace strata::pmr {

template <class K, class V,
          class Hash = typename absl::flat_hash_map<K, V>::hasher,
          class Eq = typename absl::flat_hash_map<K, V>::key_equal>
using flat_hash_map =
    absl::flat_hash_map<K, V, Hash, Eq,
                        std::pmr::polymorphic_allocator<std::pair<const K, V>>>;

template <class K, class Hash = typename absl::flat_hash_set<K>::hasher,
          class Eq = typename absl::flat_hash_set<K>::key_equal>
using flat_hash_set =
    absl::flat_hash_set<K, Hash, Eq, std::pmr::polymorphic_allocator<K>>;

template <class K, class V,
          class Hash = typename absl::node_hash_map<K, V>::hasher,
          class Eq = typename absl::node_hash_map<K, V>::key_equal>
using node_hash_map =
    absl::node_hash_map<K, V, Hash, Eq,
                        std::pmr::polymorphic_allocator<std::pair<const K, V>>>;

template <class K, class Hash = typename absl::node_hash_set<K>::hasher,
          class Eq = typename absl::node_hash_set<K>::key_equal>
using node_hash_set =
    absl::node_hash_set<K, Hash, Eq, std::pmr::polymorphic_allocator<K>>;

template <class K, class V, class Compare = std::less<K>>
using btree_map =
    absl::btree_map<K, V, Compare,
                    std::pmr::polymorphic_allocator<std::pair<const K, V>>>;

template <class K, class Compare = std::less<K>>
using btree_set =
    absl::btree_set<K, Compare, std::pmr::polymorphic_allocator<K>>;

template <class T, std::size_t N>
using InlinedVector =
    absl::InlinedVector<T, N, std::pmr::polymorphic_allocator<T>>;

}  // namespace strata::pmr

#endif  // STRATA_ADAPTERS_PMR_CONTAINERS_H_
