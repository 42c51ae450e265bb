// Route selection: wildcard patterns, regexes and precedence (stream/route_table.h).
#include "stream/route_table.h"

#include <gtest/gtest.h>

namespace tomstream::stream {
namespace {

using Match = config::RouteConfig::Match;

TEST(WildcardMatch, StarIsAnyRunQuestionMarkOneCharacterTheRestThemselves) {
  EXPECT_TRUE(WildcardMatch("hermes.*", "hermes.lvk.nonlocalized"));
  EXPECT_TRUE(WildcardMatch("hermes.*", "hermes."));
  EXPECT_FALSE(WildcardMatch("hermes.*", "hermes"));
  EXPECT_FALSE(WildcardMatch("hermes.*", "xhermes.a"));  // the whole name
  EXPECT_TRUE(WildcardMatch("gcn.classic.text.*_POS*", "gcn.classic.text.FERMI_GBM_FIN_POS"));
  EXPECT_TRUE(WildcardMatch("gcn.?", "gcn.x"));
  EXPECT_FALSE(WildcardMatch("gcn.?", "gcn.xy"));
  EXPECT_FALSE(WildcardMatch("gcn.?", "gcn."));
  EXPECT_TRUE(WildcardMatch("*", ""));
  EXPECT_TRUE(WildcardMatch("**a**", "a"));
  EXPECT_FALSE(WildcardMatch("", "a"));
  EXPECT_TRUE(WildcardMatch("a.b", "a.b"));
  EXPECT_FALSE(WildcardMatch("a.b", "axb"));  // '.' is not a regex dot
  EXPECT_TRUE(WildcardMatch("*ab*ab", "xxabyyabab"));  // the second "ab" needs a retry
  EXPECT_FALSE(WildcardMatch("*ab*abc", "xxabyyabab"));
  EXPECT_TRUE(WildcardMatch("*a", "*ba"));  // a '*' in the name is no wildcard
}

TEST(WildcardMatch, ManyStarsDoNotBacktrackExponentially) {
  // As a regex (a.*a.*...b) this took minutes on a 200-character name; the ctest timeout would
  // stop a regression.
  std::string pattern;
  for (int i = 0; i < 100; ++i) pattern += "a*";
  const std::string name(200, 'a');
  EXPECT_FALSE(WildcardMatch(pattern + "b", name));
  EXPECT_TRUE(WildcardMatch(pattern, name));
}

TEST(RouteTable, ExactBeforePatternBeforeRegexThenOlderFirst) {
  const auto route = [](int64_t id, Match match, std::string topic, std::string handler) {
    Route r;
    r.id = id;
    r.match = match;
    r.topic = std::move(topic);
    r.handler = std::move(handler);
    return r;
  };
  RouteTable table({
      route(0, Match::kRegex, "hermes\\..*", "raw"),
      route(0, Match::kPattern, "hermes.*", "hermes"),
      route(1, Match::kPattern, "hermes.lvk.*", "log"),
      route(2, Match::kExact, "hermes.lvk.x", "gcn"),
  });
  ASSERT_NE(table.Match("hermes.lvk.x"), nullptr);
  EXPECT_EQ(table.Match("hermes.lvk.x")->handler, "gcn");
  EXPECT_EQ(table.Match("hermes.lvk.y")->handler, "hermes");  // the older pattern
  EXPECT_EQ(table.Match("hermes.")->handler, "hermes");
  EXPECT_EQ(table.Match("other"), nullptr);
  EXPECT_EQ(table.MatchPatterns({"hermes.a", "__consumer_offsets", "gcn.b", "hermes.lvk.z"}),
            (std::vector<std::string>{"hermes.a", "hermes.lvk.z"}));
}

}  // namespace
}  // namespace tomstream::stream
