/*
 * synth.c - the synthetic data generator (e-commerce, streaming, news) and the writer of the
 * "reco" dataset folder. See synth.h for the interface; this comment describes the world.
 *
 * THE WORLD
 *   Taste space. A k-dimensional space (k = dim, 16 by default). Every category c has a unit
 *   centroid m_c drawn from N(0, I), and a share s_c ~ Gamma(2) + 0.3 of the catalogue.
 *   Items. Item i has a primary category drawn by share, sometimes a second and a third (film
 *   genres often, news topics sometimes, shop departments never), a unit latent vector
 *     q_i = normalize(0.5 * normalize(sum of its centroids) + 0.87 * g),  g a unit Gaussian,
 *   a hidden quality z_i ~ N(0, 1), and a Zipf-Mandelbrot popularity w_i = (rank_i + q)^-zipf,
 *   q = 1 + n_items / 100, where the rank sorts 0.6 z_i + N(0, 1): good items tend to be
 *   popular, the tail is a power law, and the head is not absurdly steep (the top item gets
 *   ~0.5% of the weight with 5k items, as in MovieLens, rather than 12% for a pure Zipf).
 *   News articles also get a publication time (uniform over the span and two days before it);
 *   item indices follow publication time.
 *   Tags follow the latent vector: each category has a tag list and each tag a random direction
 *   in taste space; an item takes the tags its vector points at most, so content carries taste.
 *   Users. A user belongs to one of A archetypes (sizes ~ Gamma(2)). Archetype a has a sparse
 *   category preference theta_a ~ Dirichlet(0.3) and a unit taste vector v_a. The user draws
 *     theta_u ~ Dirichlet(8 theta_a + 0.05)              (close to the archetype, but personal)
 *     p_u = normalize((1 - noise) v_a + noise g)          (g a unit Gaussian, noise = taste_noise)
 *   an activity weight ~ LogNormal(0, sigma) that sets their share of the events (each user
 *   gets at least a few, heavy users are capped so they cannot exhaust the catalogue), a rating
 *   bias ~ N(0, 0.35) and a first-activity time in the first 60% of the span.
 *   Sessions. A user's events come in sessions whose start times are sorted uniform draws over
 *   the user's active period (generated in order, O(1) each: x' = 1 - (1 - x) U^(1/left)),
 *   with a domain-specific mean number of events per session; events inside a session are
 *   seconds to minutes apart (streaming: the running time of the title).
 *   Item choice, O(candidates) per choice, a mixture:
 *     p_popular : one draw from the popularity alias table (of the day, for news): no taste;
 *     p_continue: one of the previous item's categories, anchor p_u + q_prev (sessions drift
 *                 among similar items, which is what sequential models learn);
 *     p_explore : a uniformly random category, drawn by popularity, anchor p_u;
 *     otherwise : a category drawn from theta_u, anchor p_u;
 *   in the last two cases the category's items are drawn from the archetype's alias table over
 *   them, weighted w_i exp(affinity v_a . q_i) (popular items the archetype likes); then of
 *   `candidates` such draws the one with the highest anchor . q_i + 0.1 U wins, which adds the
 *   user's own taste. Items the user already had are skipped (e-commerce allows 8% re-views);
 *   news draws only from articles published before the click, from day buckets at a geometric
 *   age (P(age = d days) ~ 0.55 * 0.45^d), with one table per (day, topic).
 *   Events. Affinity a = p_u . q_i of the chosen item drives the outcome:
 *     e-commerce: view; click with P = 0.3 + 0.45a; cart with P = 0.25 + 0.35a + 0.1z;
 *       purchase with P = 0.55 + 0.1z; then (explicit_ratings) a rating with P = 0.3;
 *     streaming : a 1-5 rating round(avg_i + 1.6 (a - 0.35) + bias_u + N(0, 0.75)) clamped,
 *       or (implicit) a view valued by completion 0.55 + 0.6 (a - 0.3) + 0.1z + N(0, 0.2);
 *     news      : a click.
 *   Implicit events have value 1. The item's public average rating avg_i (e-commerce 4.0 +
 *   0.35z, streaming 3.55 + 0.45z, clamped to [1.5, 4.9], one decimal) is written at the head
 *   of its text, "rating=4.3 reviews=812. ...", reviews growing with popularity; a news text
 *   starts with "published=2024-01-05T14:20:00Z.".
 *   Context (context = true). Each session has a device (mobile, desktop, tablet: the user's
 *   own mix, P(mobile) ~ U(0.1, 0.9), a tablet 10% of the rest) and a location (home, work,
 *   commute: mobile sessions at 7-9h and 17-19h on weekdays are commutes with P = 0.6, weekday
 *   sessions at 9-17h are at work with P = 0.5, the rest at home), drawn from the user's own
 *   context stream, so the events themselves do not change. The context effect
 *   (context_effect = e > 0): each cell (device x daypart, 3 x 4) has a category preference
 *   ~ Dirichlet(0.3) over the categories; a taste-driven category choice (not a continuation or
 *   popularity draw) comes from the session's cell with probability e, else from theta_u. So
 *   e.g. mobile users in the evening favour a few categories that desktop users at noon do
 *   not: a signal only a context-aware ranker can use (src/rank/context.c learns it).
 *   What this gives (tests/unit/test_synth.c checks it on small data): on each user's held-out
 *   last item, a plain item co-occurrence scorer has 2-3x the hit rate of popularity, news
 *   rewards recency, and all of it vanishes when choices are by popularity only.
 *
 * DETERMINISM AND SPEED
 *   Random streams are seeded by mix(seed, purpose, index): categories, items, archetypes, each
 *   user's activity, each user's behaviour and each item's metadata have their own. Per-user
 *   event counts are fixed first (cumulative rounding of the activity shares, so they sum to
 *   n_interactions exactly), which fixes every user's slice of the output arrays; users are
 *   then generated in parallel (OpenMP, dynamic schedule) straight into their slices. So the
 *   output does not depend on the thread count. Users are visited grouped by archetype, so a
 *   thread keeps using the same archetype tables (n_items entries of 12 bytes) from its cache;
 *   alias entries hold resolved item ids so a draw touches one cache line, and the candidates'
 *   vectors (one 64-byte line each at k = 16) are prefetched together. The writer formats
 *   chunks of 64k rows in parallel with its own integer and decimal formatting and writes them
 *   in order.
 */
#include "synth.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------------------------------ */
/* Word lists. Each category has a name, two word lists whose role depends on the domain
 * (adjectives/nouns for products and films, subjects/objects for headlines), tags, and for
 * products a median price. NULL ends every list. */

#define W(...) {__VA_ARGS__, NULL}

typedef struct cat_words {
  const char *name;
  const char *a[20];
  const char *b[20];
  const char *tags[14];
  double price; /* e-commerce median price */
} cat_words;

static const cat_words k_shop[] = {
    {"electronics",
     W("Wireless", "Noise-Cancelling", "Bluetooth", "Smart", "Portable", "4K", "Ultra-Slim", "Fast-Charging",
       "Waterproof", "Ergonomic", "Mechanical", "Compact", "HD", "Rechargeable"),
     W("Headphones", "Earbuds", "Speaker", "Monitor", "Keyboard", "Mouse", "Smartwatch", "Tablet", "Charger", "Webcam",
       "Power Bank", "Router", "Soundbar", "Projector", "Drone"),
     W("wireless", "bluetooth", "usb-c", "4k", "smart-home", "gaming", "noise-cancelling", "portable", "rechargeable",
       "waterproof"),
     79},
    {"books",
     W("Silent", "Hidden", "Last", "Forgotten", "Midnight", "Golden", "Broken", "Secret", "Distant", "Crimson", "Quiet",
       "Wild", "Lost", "Burning", "Winter"),
     W("Harbor", "Garden", "Kingdom", "River", "Letter", "Orchard", "Island", "Library", "Mountain", "Promise",
       "Lighthouse", "Empire", "Tide", "Cartographer", "Daughter"),
     W("fiction", "mystery", "thriller", "romance", "history", "biography", "fantasy", "science-fiction", "self-help",
       "cooking", "young-adult", "poetry"),
     14},
    {"sports",
     W("Pro", "Lightweight", "Adjustable", "Breathable", "Carbon", "Trail", "Indoor", "Foldable", "Padded", "Quick-Dry"),
     W("Running Shoes", "Yoga Mat", "Dumbbell Set", "Tennis Racket", "Cycling Helmet", "Water Bottle",
       "Resistance Bands", "Jump Rope", "Hiking Backpack", "Football", "Basketball", "Fitness Tracker"),
     W("running", "yoga", "cycling", "fitness", "outdoor", "team-sports", "camping", "hiking", "swimming", "strength"),
     35},
    {"home",
     W("Stainless Steel", "Ceramic", "Nonstick", "Cotton", "Minimalist", "Scandinavian", "Bamboo", "Velvet",
       "Cast Iron", "Modular"),
     W("Frying Pan", "Coffee Maker", "Table Lamp", "Throw Blanket", "Bookshelf", "Knife Set", "Bed Sheets",
       "Storage Box", "Dinner Plates", "Wall Clock", "Air Purifier", "Vacuum Cleaner"),
     W("kitchen", "bedroom", "living-room", "bath", "decor", "storage", "cleaning", "lighting", "cookware",
       "furniture"),
     40},
    {"toys",
     W("Wooden", "Magnetic", "Interactive", "Plush", "Remote-Control", "Educational", "Giant", "Glow-in-the-Dark",
       "Musical"),
     W("Building Blocks", "Puzzle", "Race Car", "Teddy Bear", "Doll House", "Robot Kit", "Board Game", "Train Set",
       "Dinosaur", "Art Set"),
     W("stem", "puzzle", "outdoor-play", "plush", "board-games", "preschool", "creative", "collectible", "vehicles",
       "family"),
     25},
    {"fashion",
     W("Slim-Fit", "Linen", "Leather", "Oversized", "Vintage", "Wool", "Denim", "Quilted", "Classic", "Cropped"),
     W("Jacket", "Sneakers", "Dress", "Jeans", "Scarf", "Handbag", "Sunglasses", "Boots", "Shirt", "Hoodie", "Watch",
       "Belt"),
     W("casual", "formal", "streetwear", "summer", "winter", "vintage", "sustainable", "athleisure", "accessories",
       "workwear"),
     45},
    {"beauty",
     W("Hydrating", "Organic", "Vitamin C", "Matte", "Fragrance-Free", "Nourishing", "Long-Lasting", "Gentle",
       "Brightening"),
     W("Face Serum", "Moisturizer", "Lipstick", "Shampoo", "Sunscreen", "Eye Cream", "Face Mask", "Perfume", "Hair Oil",
       "Cleanser"),
     W("skincare", "makeup", "haircare", "fragrance", "vegan", "cruelty-free", "sensitive-skin", "anti-aging", "spf",
       "natural"),
     18},
    {"grocery",
     W("Organic", "Roasted", "Whole Grain", "Extra Virgin", "Gluten-Free", "Dark", "Wild", "Sparkling", "Smoked"),
     W("Coffee Beans", "Olive Oil", "Pasta", "Granola", "Green Tea", "Chocolate Bar", "Honey", "Almonds", "Rice",
       "Hot Sauce", "Maple Syrup"),
     W("organic", "vegan", "gluten-free", "snacks", "beverages", "breakfast", "pantry", "fair-trade", "keto", "spicy"),
     7},
    {"garden",
     W("Solar", "Heavy-Duty", "Raised", "Self-Watering", "Cordless", "Ergonomic", "Weatherproof", "Expandable"),
     W("Garden Hose", "Planter", "Pruning Shears", "Lawn Mower", "Bird Feeder", "Seed Kit", "Compost Bin",
       "String Lights", "Watering Can", "Patio Chair"),
     W("outdoor", "planting", "tools", "lawn", "patio", "watering", "lighting", "herbs", "flowers", "wildlife"),
     30},
    {"automotive",
     W("Heavy-Duty", "Universal", "Digital", "Magnetic", "LED", "All-Weather", "Portable", "Premium"),
     W("Dash Cam", "Tire Inflator", "Car Charger", "Floor Mats", "Phone Mount", "Jump Starter", "Seat Covers",
       "Wiper Blades", "Car Vacuum", "Headlight Bulbs"),
     W("maintenance", "interior", "exterior", "safety", "electronics", "cleaning", "tools", "accessories", "winter",
       "road-trip"),
     28},
};

static const char *const k_brands[] = W("Acme", "Northwind", "Brightline", "Solace", "Everpeak", "Kinetic", "Lumen",
                                        "Oakridge", "Veritas", "Zephyr", "Halcyon", "Trailhead", "Auralis", "Voltix",
                                        "Pinecrest", "Meridian");

/* Film genres: a = adjectives, b = nouns (shared pools below add variety). */
static const cat_words k_genres[] = {
    {"Drama", W("Quiet", "Broken", "Last", "Long", "Distant"), W("Summer", "Letter", "Promise", "Road", "Daughter"),
     W("slow-burn", "character-study", "family", "award-winning", "based-on-a-true-story", "tearjerker"), 0},
    {"Comedy", W("Crazy", "Perfect", "Accidental", "Big", "Little"), W("Wedding", "Weekend", "Roommate", "Vacation", "Mix-Up"),
     W("feel-good", "quirky", "satire", "romantic", "slapstick", "witty"), 0},
    {"Action", W("Final", "Rogue", "Deadly", "Iron", "Hard"), W("Strike", "Protocol", "Target", "Pursuit", "Vendetta"),
     W("explosive", "car-chase", "martial-arts", "heist", "revenge", "one-man-army"), 0},
    {"Thriller", W("Silent", "Hidden", "Dark", "Cold", "Twisted"), W("Witness", "Alibi", "Signal", "Stranger", "Room"),
     W("twist-ending", "suspense", "psychological", "conspiracy", "slow-burn", "dark"), 0},
    {"Sci-Fi", W("Infinite", "Stellar", "Artificial", "Lunar", "Quantum"), W("Horizon", "Orbit", "Colony", "Signal", "Frontier"),
     W("space", "time-travel", "dystopia", "artificial-intelligence", "aliens", "cyberpunk"), 0},
    {"Romance", W("Sweet", "Endless", "Paris", "Second", "Golden"), W("Hearts", "Affair", "Kiss", "Season", "Chance"),
     W("romantic", "love-triangle", "feel-good", "period-piece", "tearjerker", "wedding"), 0},
    {"Horror", W("Hollow", "Cursed", "Crimson", "Haunted", "Pale"), W("House", "Whisper", "Basement", "Ritual", "Woods"),
     W("supernatural", "slasher", "haunted-house", "creepy", "gore", "found-footage"), 0},
    {"Animation", W("Brave", "Tiny", "Magic", "Wild", "Lucky"), W("Dragon", "Robot", "Forest", "Kingdom", "Friends"),
     W("family", "talking-animals", "musical", "kids", "hand-drawn", "adventure"), 0},
    {"Documentary", W("Inside", "True", "Untold", "Deep", "Hidden"), W("Story", "Ocean", "Planet", "Truth", "Machine"),
     W("nature", "true-crime", "history", "science", "music", "sports"), 0},
    {"Crime", W("Dirty", "Blood", "Cold", "Brooklyn", "Velvet"), W("Money", "Syndicate", "Job", "Confession", "Streets"),
     W("heist", "mafia", "detective", "noir", "true-crime", "gritty"), 0},
    {"Fantasy", W("Enchanted", "Shadow", "Elder", "Ember", "Crystal"), W("Crown", "Sword", "Realm", "Prophecy", "Throne"),
     W("magic", "epic", "dragons", "quest", "mythology", "world-building"), 0},
    {"Adventure", W("Lost", "Wild", "Savage", "Northern", "Great"), W("Expedition", "Island", "Treasure", "Journey", "Jungle"),
     W("exploration", "survival", "treasure-hunt", "epic", "road-trip", "wilderness"), 0},
    {"Family", W("Little", "Happy", "Big", "Lucky", "Merry"), W("Christmas", "Puppy", "Summer", "Camp", "Adventure"),
     W("kids", "holiday", "animals", "heartwarming", "coming-of-age", "friendship"), 0},
    {"Mystery", W("Missing", "Secret", "Locked", "Veiled", "Unseen"), W("Manor", "Cipher", "Case", "Key", "Portrait"),
     W("whodunit", "detective", "twist-ending", "small-town", "puzzle", "investigation"), 0},
};
static const char *const k_film_adj[] = W("Silent", "Midnight", "Crimson", "Last", "Forgotten", "Burning", "Golden",
                                          "Broken", "Hidden", "Endless", "Wild", "Northern");
static const char *const k_film_noun[] = W("Harbor", "Tide", "Empire", "River", "Storm", "Garden", "Mirror",
                                           "Shadow", "City", "Echo", "Winter", "Line");
static const char *const k_characters[] =
    W("a retired detective", "two estranged sisters", "a young pilot", "a small-town doctor", "an ambitious chef",
      "a rogue AI", "a grieving father", "a band of thieves", "a teenage inventor", "an exiled queen",
      "a night-shift nurse", "a washed-up rock star");
static const char *const k_plots[] =
    W("must confront the past", "uncovers a conspiracy", "races against time", "falls for a stranger",
      "fights to save the family farm", "goes missing", "finds a map to a lost city", "starts over in a new town",
      "takes one last job", "hears a voice from the future");

/* News topics: a = subjects, b = objects; verbs are per topic below. */
static const cat_words k_topics[] = {
    {"politics", W("Senate", "Governor", "Parliament", "Prime Minister", "City Council", "Opposition Leader"),
     W("Budget Deal", "Housing Bill", "Election Reform", "Tax Plan", "Immigration Overhaul", "Climate Package"),
     W("elections", "legislation", "government", "policy", "campaign", "courts"), 0},
    {"business", W("Central Bank", "Retail Giant", "Tech Startup", "Automaker", "Airline", "Oil Producer"),
     W("Interest Rates", "Quarterly Profits", "Layoffs", "Merger Talks", "Prices", "Dividend"),
     W("economy", "markets", "earnings", "jobs", "inflation", "startups"), 0},
    {"technology", W("Chipmaker", "Social Network", "Smartphone Maker", "AI Lab", "Cloud Provider", "Game Studio"),
     W("New Model", "Security Flaw", "Foldable Phone", "Data Center", "Privacy Tools", "Subscription Plan"),
     W("ai", "cybersecurity", "gadgets", "software", "privacy", "gaming"), 0},
    {"science", W("Astronomers", "Researchers", "Space Agency", "Biologists", "Physicists", "Geologists"),
     W("Distant Exoplanet", "Ancient Genome", "Lunar Lander", "Gravitational Waves", "Deep-Sea Species", "Hidden Fault"),
     W("space", "research", "biology", "physics", "discovery", "archaeology"), 0},
    {"sports", W("Home Team", "Star Striker", "Veteran Coach", "Underdogs", "Champions", "Rookie"),
     W("Title Decider", "Record Contract", "Playoff Spot", "Derby", "Final", "Comeback Win"),
     W("football", "basketball", "tennis", "transfers", "olympics", "cycling"), 0},
    {"health", W("Health Officials", "Hospital Network", "New Study", "Drugmaker", "Doctors", "Nutritionists"),
     W("Flu Season", "New Vaccine", "Sleep and Memory", "Cancer Therapy", "Mental Health Services", "Sugar Tax"),
     W("medicine", "nutrition", "fitness", "mental-health", "vaccines", "public-health"), 0},
    {"entertainment", W("Pop Star", "Streaming Service", "Film Festival", "Director", "Band", "Broadway Show"),
     W("World Tour", "Hit Series", "Comeback Album", "Top Prize", "Box Office Record", "Final Season"),
     W("music", "movies", "tv", "celebrity", "awards", "theater"), 0},
    {"world", W("Leaders", "Aid Groups", "Negotiators", "Coalition", "Ministers", "Envoys"),
     W("Ceasefire", "Trade Pact", "Refugee Plan", "Peace Summit", "Sanctions", "Border Deal"),
     W("diplomacy", "conflict", "trade", "humanitarian", "europe", "asia"), 0},
    {"climate", W("Scientists", "Coastal Cities", "Energy Firms", "Farmers", "Regulators", "Insurers"),
     W("Record Heat", "Rising Seas", "Solar Farms", "Drought", "Emission Rules", "Wildfire Season"),
     W("environment", "energy", "weather", "emissions", "renewables", "wildlife"), 0},
    {"travel", W("Airlines", "Rail Operator", "Tourist Hotspot", "Cruise Line", "Hotels", "National Parks"),
     W("Summer Routes", "Night Trains", "Visitor Numbers", "Fares", "Loyalty Perks", "Booking Rules"),
     W("flights", "trains", "destinations", "hotels", "budget-travel", "outdoors"), 0},
};
static const char *const k_verbs[] = W("Backs", "Rejects", "Unveils", "Delays", "Weighs", "Targets", "Expands",
                                       "Cuts", "Wins", "Warns of", "Eyes", "Braces for", "Bets on", "Revives");
static const char *const k_suffixes[] = W("", "", "", " Amid Inflation Fears", " After Heated Debate",
                                          " as Talks Stall", " in Surprise Move", " Ahead of Deadline",
                                          ", Sources Say", ", Report Finds");
static const char *const k_cities[] = W("Lisbon", "Nairobi", "Toronto", "Seoul", "Denver", "Osaka", "Madrid", "Cairo",
                                        "Sydney", "Oslo", "Lima", "Chicago");
static const char *const k_first[] = W("Ada", "Marcus", "Lena", "Tomas", "Priya", "Jonah", "Iris", "Felix", "Nora", "Omar");
static const char *const k_last[] = W("Lane", "Okafor", "Brandt", "Moreau", "Castillo", "Whitfield", "Sato", "Kowalski",
                                      "Haddad", "Ferreira");
static const char *const k_moods[] = W("gripping", "heartfelt", "darkly funny", "slow-burning", "stylish", "epic",
                                       "intimate", "tense", "whimsical", "haunting", "offbeat", "sweeping");
static const char *const k_generic_tags[] = W("bestseller", "new-arrival", "eco-friendly", "gift-idea", "premium",
                                              "budget", "limited-edition", "top-rated");

#undef W

static int list_len(const char *const *l) {
  int n = 0;
  while (l[n]) n++;
  return n;
}

static const char *list_pick(const char *const *l, reco_rng *r) {
  return l[reco__rng_below(r, (uint64_t)list_len(l))];
}

static const cat_words *domain_words(reco_synth_domain d, int *n) {
  switch (d) {
  case RECO_SYNTH_STREAMING: *n = (int)RECO_ARRAY_LEN(k_genres); return k_genres;
  case RECO_SYNTH_NEWS: *n = (int)RECO_ARRAY_LEN(k_topics); return k_topics;
  default: *n = (int)RECO_ARRAY_LEN(k_shop); return k_shop;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters */

static const char *const k_domain_names[RECO_SYNTH__COUNT] = {"ecommerce", "streaming", "news"};

const char *reco__synth_domain_name(reco_synth_domain d) {
  return (unsigned)d < RECO_SYNTH__COUNT ? k_domain_names[d] : "unknown";
}

int reco__synth_domain_parse(const char *s) {
  for (int d = 0; d < RECO_SYNTH__COUNT; d++)
    if (!strcmp(s, k_domain_names[d])) return d;
  if (!strcmp(s, "e-commerce")) return RECO_SYNTH_ECOMMERCE;
  return -1;
}

/*
 * Defaults. E-commerce: 20k users (so the demo's "user_12345" exists), 5k products in 10
 * departments, 500k events over half a year. Streaming: 10k users, 4k titles in 14 genres, 1M
 * ratings over a year (MovieLens-1M-like density). News: 20k readers, 6k articles in 10 topics,
 * 500k clicks over 30 days.
 */
void reco__synth_defaults(reco_synth_params *p, reco_synth_domain d) {
  memset(p, 0, sizeof *p);
  p->domain = d;
  p->seed = 42;
  p->dim = 16;
  p->n_archetypes = 40;
  p->zipf = 1.0;
  p->candidates = 3;
  p->affinity = 5.0;
  p->taste_noise = 0.35;
  p->t_start = 1704067200; /* 2024-01-01T00:00:00Z */
  p->p_explore = 0.05;
  switch (d) {
  case RECO_SYNTH_STREAMING:
    p->n_users = 10000, p->n_items = 4000, p->n_interactions = 1000000, p->n_categories = 14;
    p->explicit_ratings = true, p->p_popular = 0.15, p->p_continue = 0.25, p->span_days = 365;
    break;
  case RECO_SYNTH_NEWS:
    p->n_users = 20000, p->n_items = 6000, p->n_interactions = 500000, p->n_categories = 10;
    p->explicit_ratings = false, p->p_popular = 0.15, p->p_continue = 0.30, p->span_days = 30;
    break;
  default:
    p->n_users = 20000, p->n_items = 5000, p->n_interactions = 500000, p->n_categories = 10;
    p->explicit_ratings = true, p->p_popular = 0.15, p->p_continue = 0.45, p->span_days = 182;
    break;
  }
}

int reco__synth_check(const reco_synth_params *p) {
#define BAD(cond, ...) \
  if (cond) return reco__seterr(RECO_EINVAL, __VA_ARGS__)
  BAD(!p, "synth: no parameters");
  BAD((unsigned)p->domain >= RECO_SYNTH__COUNT, "synth: unknown domain %d", (int)p->domain);
  BAD(p->n_users < 1 || p->n_users > 100000000, "synth: users must be in [1, 100000000], got %d", p->n_users);
  BAD(p->n_items < 1 || p->n_items > 100000000, "synth: items must be in [1, 100000000], got %d", p->n_items);
  BAD(p->n_interactions < 0 || p->n_interactions > INT32_MAX - 1,
      "synth: interactions must be in [0, %d], got %lld", INT32_MAX - 1, (long long)p->n_interactions);
  BAD(p->n_categories < 1 || p->n_categories > RECO_SYNTH_MAX_CATEGORIES,
      "synth: categories must be in [1, %d], got %d", RECO_SYNTH_MAX_CATEGORIES, p->n_categories);
  BAD(p->dim < 2 || p->dim > RECO_SYNTH_MAX_DIM, "synth: dim must be in [2, %d], got %d", RECO_SYNTH_MAX_DIM, p->dim);
  BAD(p->n_archetypes < 1 || p->n_archetypes > 100000, "synth: archetypes must be in [1, 100000], got %d",
      p->n_archetypes);
  BAD(!(p->zipf >= 0 && p->zipf <= 4), "synth: zipf exponent must be in [0, 4], got %g", p->zipf);
  BAD(!(p->p_popular >= 0 && p->p_continue >= 0 && p->p_explore >= 0 &&
        p->p_popular + p->p_continue + p->p_explore <= 1.0 + 1e-9),
      "synth: p_popular, p_continue, p_explore must be >= 0 with a sum <= 1");
  BAD(!(p->affinity >= 0 && p->affinity <= 50), "synth: affinity must be in [0, 50], got %g", p->affinity);
  BAD(p->candidates < 1 || p->candidates > 64, "synth: candidates must be in [1, 64], got %d", p->candidates);
  BAD(!(p->taste_noise >= 0 && p->taste_noise <= 1), "synth: taste_noise must be in [0, 1], got %g", p->taste_noise);
  BAD(p->span_days < 1 || p->span_days > 36500, "synth: span_days must be in [1, 36500], got %d", p->span_days);
  BAD(p->t_start < 0 || p->t_start > 4102444800LL, "synth: t_start must be a unix time in [1970, 2100)");
  BAD(p->threads < 0, "synth: threads must be >= 0");
  BAD(!(p->context_effect >= 0 && p->context_effect <= 1), "synth: context_effect must be in [0, 1], got %g",
      p->context_effect);
  BAD(p->context_effect > 0 && !p->context, "synth: context_effect needs context on");
#undef BAD
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Random streams */

enum { S_CATS = 1, S_ITEMS, S_ARCH, S_ACT, S_USER, S_META, S_PUB, S_CTX, S_CELL };

static uint64_t mix64(uint64_t z) {
  z ^= z >> 33;
  z *= 0xff51afd7ed558ccdULL;
  z ^= z >> 33;
  z *= 0xc4ceb9fe1a85ec53ULL;
  z ^= z >> 33;
  return z;
}

static void stream(reco_rng *r, uint64_t seed, uint64_t purpose, uint64_t idx) {
  reco__rng_seed(r, mix64(mix64(seed + purpose * 0x9e3779b97f4a7c15ULL) ^ (idx * 0xd6e8feb86659fd93ULL + purpose)));
}

static void unit_gauss(reco_rng *r, float *v, int d) {
  double n2 = 0;
  for (int k = 0; k < d; k++) {
    double x = reco__rng_normal(r);
    v[k] = (float)x;
    n2 += x * x;
  }
  float s = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.f;
  for (int k = 0; k < d; k++) v[k] *= s;
}

static void normalize(float *v, int d) {
  double n2 = 0;
  for (int k = 0; k < d; k++) n2 += (double)v[k] * v[k];
  float s = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.f;
  for (int k = 0; k < d; k++) v[k] *= s;
}

static inline float dot(const float *a, const float *b, int d) {
  float s = 0;
  for (int k = 0; k < d; k++) s += a[k] * b[k];
  return s;
}

static inline double clampd(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Exponential with the given mean. */
static inline double rng_exp(reco_rng *r, double mean) { return -mean * log(1.0 - reco__rng_uniform(r)); }

/* ------------------------------------------------------------------------------------------ */
/* The world */

#define MAX_ITEM_CATS 3
#define DAY 86400

/*
 * A packed alias table entry (Walker 1977, Vose 1991): slot j yields `item` with probability
 * prob, else `alias`. Item ids are resolved at build time so a draw touches one cache line.
 */
typedef struct pick {
  float prob;
  int32_t item, alias;
} pick;

/* Vose's construction over weights w[0..n) of items ids[0..n) (ids NULL: base + k) into out. */
static void pick_build(pick *out, const double *w, const int32_t *ids, int32_t base, int32_t n, double *p,
                       int32_t *small, int32_t *large) {
  double sum = 0;
  for (int32_t k = 0; k < n; k++) sum += w[k] > 0 ? w[k] : 0;
  int32_t ns = 0, nl = 0;
  for (int32_t k = 0; k < n; k++) {
    p[k] = sum > 0 ? (w[k] > 0 ? w[k] : 0) * n / sum : 1.0;
    out[k].item = ids ? ids[k] : base + k;
    if (p[k] < 1.0) small[ns++] = k;
    else large[nl++] = k;
  }
  while (ns && nl) {
    int32_t sm = small[--ns], lg = large[nl - 1];
    out[sm].prob = (float)p[sm];
    out[sm].alias = out[lg].item;
    p[lg] -= 1.0 - p[sm];
    if (p[lg] < 1.0) nl--, small[ns++] = lg;
  }
  while (nl) out[large[nl - 1]].prob = 1.0f, out[large[nl - 1]].alias = out[large[nl - 1]].item, nl--;
  while (ns) out[small[ns - 1]].prob = 1.0f, out[small[ns - 1]].alias = out[small[ns - 1]].item, ns--;
}

/* One draw from a table of n entries: the high 32 bits of one random number pick the slot,
 * the low 32 bits decide between it and its alias. */
static inline int32_t pick_draw(const pick *t, int32_t n, reco_rng *r) {
  uint64_t x = reco__rng_next(r);
  const pick *e = &t[((x >> 32) * (uint64_t)n) >> 32];
  return (float)(uint32_t)x * 0x1.0p-32f < e->prob ? e->item : e->alias;
}

enum { SYN_DEVICES = 3, SYN_LOCATIONS = 3, SYN_CELLS = SYN_DEVICES * 4 };
static const char *const k_devices[SYN_DEVICES] = {"mobile", "desktop", "tablet"};
static const char *const k_locations[SYN_LOCATIONS] = {"home", "work", "commute"};

typedef struct world {
  const reco_synth_params *p;
  int C, dim;
  const cat_words *words; /* domain list; categories >= n_words get generic names */
  int n_words;
  char (*cat_name)[32];
  float *cent; /* C x dim */
  /* items */
  int32_t n_items;
  uint8_t *item_ncat;
  int16_t *item_cats; /* n_items x MAX_ITEM_CATS */
  float *item_vec;    /* n_items x dim */
  float *item_quality;
  double *item_pop, pop_max;
  float *item_avg; /* public average rating, NAN for news */
  int64_t *item_pub; /* news publication time, else NULL */
  bool *item_series; /* streaming: a series rather than a film */
  /* time buckets (news: days since tb0; others one bucket) and alias tables per (bucket, cat) */
  int B;
  int64_t tb0, t_end;
  int32_t *bucket_first; /* B + 1: items of bucket b are [first[b], first[b+1]) (time order) */
  int64_t *tab_ptr;      /* B*C + 1: table (b, c) is entries [tab_ptr[b*C+c], tab_ptr[b*C+c+1]) */
  int32_t *tab_items;    /* the items of each (b, c) list, E = tab_ptr[B*C] entries */
  pick *tab;             /* (A + 1) x E: by popularity, then one weighting per archetype */
  pick *pop;             /* n_items: per bucket b, entries [bucket_first[b], bucket_first[b+1]) */
  /* tags: per category, directions for its tag list; generic tags have their own */
  float *tag_dir; /* C x 14 x dim */
  float *gtag_dir; /* 8 x dim */
  /* archetypes */
  int A;
  float *arch_theta; /* A x C */
  float *arch_vec;   /* A x dim */
  reco_alias arch_alias;
  /* users */
  int32_t *count; /* per user */
  int64_t *offset;
  int16_t *user_top;
  int32_t *user_arch;
  int32_t *order; /* users grouped by archetype: each thread's tables stay in its cache */
  /* context (p->context): per cell (device x daypart) cumulative category preference */
  double cell_cum[SYN_CELLS][RECO_SYNTH_MAX_CATEGORIES];
} world;

static void world_free(world *w) {
  reco__free(w->cat_name);
  reco__free(w->cent);
  reco__free(w->item_ncat);
  reco__free(w->item_cats);
  reco__free_aligned(w->item_vec);
  reco__free(w->item_quality);
  reco__free(w->item_pop);
  reco__free(w->item_avg);
  reco__free(w->item_pub);
  reco__free(w->item_series);
  reco__free(w->tab);
  reco__free(w->tab_ptr);
  reco__free(w->tab_items);
  reco__free(w->pop);
  reco__free(w->bucket_first);
  reco__free(w->tag_dir);
  reco__free(w->gtag_dir);
  reco__free(w->arch_theta);
  reco__free(w->arch_vec);
  reco__alias_free(&w->arch_alias);
  reco__free(w->count);
  reco__free(w->offset);
  reco__free(w->user_top);
  reco__free(w->user_arch);
  reco__free(w->order);
}

#define OOM(what) reco__seterr(RECO_ENOMEM, "synth: out of memory for %s", what)

/* Sort helper: (key, index) pairs, ties broken by index so the order is deterministic. */
typedef struct keyed {
  double key;
  int32_t idx;
} keyed;
static int keyed_cmp(const void *a, const void *b) {
  const keyed *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

static int build_categories(world *w) {
  const reco_synth_params *p = w->p;
  w->C = p->n_categories;
  w->dim = p->dim;
  w->words = domain_words(p->domain, &w->n_words);
  w->cat_name = reco__calloc((size_t)w->C, sizeof *w->cat_name);
  w->cent = reco__malloc((size_t)w->C * (size_t)w->dim * sizeof *w->cent);
  w->tag_dir = reco__malloc((size_t)w->C * 14 * (size_t)w->dim * sizeof *w->tag_dir);
  w->gtag_dir = reco__malloc(8 * (size_t)w->dim * sizeof *w->gtag_dir);
  if (!w->cat_name || !w->cent || !w->tag_dir || !w->gtag_dir) return OOM("categories");
  reco_rng r;
  stream(&r, p->seed, S_CATS, 0);
  for (int c = 0; c < w->C; c++) {
    if (c < w->n_words) snprintf(w->cat_name[c], sizeof w->cat_name[c], "%s", w->words[c].name);
    else snprintf(w->cat_name[c], sizeof w->cat_name[c], "category-%d", c + 1);
    unit_gauss(&r, w->cent + (size_t)c * w->dim, w->dim);
    for (int t = 0; t < 14; t++) unit_gauss(&r, w->tag_dir + ((size_t)c * 14 + t) * w->dim, w->dim);
  }
  for (int t = 0; t < 8; t++) unit_gauss(&r, w->gtag_dir + (size_t)t * w->dim, w->dim);
  return 0;
}

/* Items: categories, vectors, quality, popularity, publication times. */
static int build_items(world *w) {
  const reco_synth_params *p = w->p;
  int32_t n = w->n_items = p->n_items;
  int C = w->C, d = w->dim;
  w->item_ncat = reco__malloc((size_t)n);
  w->item_cats = reco__malloc((size_t)n * MAX_ITEM_CATS * sizeof *w->item_cats);
  w->item_vec = reco__aligned_alloc((size_t)n * (size_t)d * sizeof *w->item_vec); /* a 16-d vector per line */
  w->item_quality = reco__malloc((size_t)n * sizeof *w->item_quality);
  w->item_pop = reco__malloc((size_t)n * sizeof *w->item_pop);
  w->item_avg = reco__malloc((size_t)n * sizeof *w->item_avg);
  w->item_series = reco__calloc((size_t)n, sizeof *w->item_series);
  keyed *order = reco__malloc((size_t)n * sizeof *order);
  double share[RECO_SYNTH_MAX_CATEGORIES];
  reco_alias cat_alias = {0};
  if (!w->item_ncat || !w->item_cats || !w->item_vec || !w->item_quality || !w->item_pop || !w->item_avg ||
      !w->item_series || !order) {
    reco__free(order);
    return OOM("items");
  }
  reco_rng r;
  stream(&r, p->seed, S_CATS, 1);
  for (int c = 0; c < C; c++) share[c] = reco__rng_gamma(&r, 2.0) + 0.3;
  int rc = reco__alias_init(&cat_alias, share, C);
  if (rc) {
    reco__free(order);
    return rc;
  }
  /* P(second category), P(third | second) */
  double p2 = p->domain == RECO_SYNTH_STREAMING ? 0.55 : p->domain == RECO_SYNTH_NEWS ? 0.15 : 0.0;
  double p3 = p->domain == RECO_SYNTH_STREAMING ? 0.35 : 0.0;
  float mean[RECO_SYNTH_MAX_DIM], g[RECO_SYNTH_MAX_DIM];
  stream(&r, p->seed, S_ITEMS, 0);
  for (int32_t i = 0; i < n; i++) {
    int16_t *cats = w->item_cats + (size_t)i * MAX_ITEM_CATS;
    int k = 0;
    cats[k++] = (int16_t)reco__alias_draw(&cat_alias, &r);
    if (C > 1 && reco__rng_uniform(&r) < p2) {
      for (int tries = 0; tries < 8 && k < MAX_ITEM_CATS; tries++) {
        int16_t c = (int16_t)reco__alias_draw(&cat_alias, &r);
        bool dup = false;
        for (int j = 0; j < k; j++) dup |= cats[j] == c;
        if (dup) continue;
        cats[k++] = c;
        if (k == 3 || reco__rng_uniform(&r) >= p3) break;
      }
    }
    w->item_ncat[i] = (uint8_t)k;
    memset(mean, 0, sizeof mean);
    for (int j = 0; j < k; j++)
      for (int x = 0; x < d; x++) mean[x] += w->cent[(size_t)cats[j] * d + x];
    normalize(mean, d);
    unit_gauss(&r, g, d);
    float *q = w->item_vec + (size_t)i * d;
    for (int x = 0; x < d; x++) q[x] = 0.5f * mean[x] + 0.87f * g[x];
    normalize(q, d);
    double z = reco__rng_normal(&r);
    w->item_quality[i] = (float)z;
    order[i].key = -(0.6 * z + reco__rng_normal(&r));
    order[i].idx = i;
    w->item_series[i] = p->domain == RECO_SYNTH_STREAMING && reco__rng_uniform(&r) < 0.3;
    double avg = p->domain == RECO_SYNTH_ECOMMERCE ? 4.0 + 0.35 * z : 3.55 + 0.45 * z;
    w->item_avg[i] = p->domain == RECO_SYNTH_NEWS ? NAN : (float)(round(clampd(avg, 1.5, 4.9) * 10) / 10);
  }
  reco__alias_free(&cat_alias);
  /* popularity: Zipf over the rank of 0.6 z + noise */
  qsort(order, (size_t)n, sizeof *order, keyed_cmp);
  double q = 1.0 + n / 100;
  for (int32_t k = 0; k < n; k++) w->item_pop[order[k].idx] = pow((double)k + q, -p->zipf);
  w->pop_max = pow(q, -p->zipf);
  /* news: publication times, uniform over [t_start - 2 days, end); item index = time order */
  if (p->domain == RECO_SYNTH_NEWS) {
    w->item_pub = reco__malloc((size_t)n * sizeof *w->item_pub);
    if (!w->item_pub) {
      reco__free(order);
      return OOM("publication times");
    }
    stream(&r, p->seed, S_PUB, 0);
    int64_t lo = p->t_start - 2 * DAY, len = (int64_t)p->span_days * DAY + 2 * DAY;
    for (int32_t i = 0; i < n; i++) w->item_pub[i] = lo + (int64_t)reco__rng_below(&r, (uint64_t)len);
    for (int32_t i = 0; i < n; i++) order[i].key = (double)w->item_pub[i], order[i].idx = i;
    qsort(order, (size_t)n, sizeof *order, keyed_cmp);
    for (int32_t i = 0; i < n; i++) w->item_pub[i] = (int64_t)order[i].key;
  }
  reco__free(order);
  return 0;
}

/* Item lists per (time bucket, category) with their popularity alias tables, and one
 * popularity table per bucket over all its items. Archetype tables come in build_archetypes. */
static int build_tables(world *w) {
  const reco_synth_params *p = w->p;
  int C = w->C;
  int32_t n = w->n_items;
  w->t_end = p->t_start + (int64_t)p->span_days * DAY;
  if (p->domain == RECO_SYNTH_NEWS) {
    w->tb0 = p->t_start - 2 * DAY;
    w->B = p->span_days + 3;
  } else {
    w->tb0 = p->t_start;
    w->B = 1;
  }
  int B = w->B;
  size_t BC = (size_t)B * C;
  w->bucket_first = reco__calloc((size_t)B + 1, sizeof *w->bucket_first);
  w->tab_ptr = reco__calloc(BC + 1, sizeof *w->tab_ptr);
  w->pop = reco__malloc((size_t)n * sizeof *w->pop);
  if (!w->bucket_first || !w->tab_ptr || !w->pop) return OOM("alias tables");
  for (int32_t i = 0; i < n; i++) {
    int b = w->item_pub ? (int)RECO_MIN((int64_t)B - 1, (w->item_pub[i] - w->tb0) / DAY) : 0;
    w->bucket_first[b + 1]++;
  }
  for (int b = 0; b < B; b++) w->bucket_first[b + 1] += w->bucket_first[b];
  for (int b = 0; b < B; b++)
    for (int32_t i = w->bucket_first[b]; i < w->bucket_first[b + 1]; i++)
      for (int j = 0; j < w->item_ncat[i]; j++) w->tab_ptr[(size_t)b * C + w->item_cats[(size_t)i * MAX_ITEM_CATS + j] + 1]++;
  for (size_t k = 0; k < BC; k++) w->tab_ptr[k + 1] += w->tab_ptr[k];
  size_t E = (size_t)w->tab_ptr[BC], longest = (size_t)n;
  w->tab_items = reco__malloc((E ? E : 1) * sizeof *w->tab_items);
  w->tab = reco__malloc(((size_t)p->n_archetypes + 1) * (E ? E : 1) * sizeof *w->tab);
  int64_t *fill = reco__malloc((BC + 1) * sizeof *fill);
  double *wt = reco__malloc(2 * longest * sizeof *wt);
  int32_t *sl = reco__malloc(2 * longest * sizeof *sl);
  int rc = 0;
  if (!w->tab_items || !w->tab || !fill || !wt || !sl) {
    rc = OOM("alias tables");
    goto done;
  }
  memcpy(fill, w->tab_ptr, (BC + 1) * sizeof *fill);
  for (int b = 0; b < B; b++)
    for (int32_t i = w->bucket_first[b]; i < w->bucket_first[b + 1]; i++)
      for (int j = 0; j < w->item_ncat[i]; j++)
        w->tab_items[fill[(size_t)b * C + w->item_cats[(size_t)i * MAX_ITEM_CATS + j]]++] = i;
  for (size_t k = 0; k < BC; k++) {
    int64_t lo = w->tab_ptr[k], hi = w->tab_ptr[k + 1];
    for (int64_t x = lo; x < hi; x++) wt[x - lo] = w->item_pop[w->tab_items[x]];
    if (hi > lo) pick_build(w->tab + lo, wt, w->tab_items + lo, 0, (int32_t)(hi - lo), wt + longest, sl, sl + longest);
  }
  for (int b = 0; b < B; b++) {
    int32_t lo = w->bucket_first[b], hi = w->bucket_first[b + 1];
    if (hi > lo) pick_build(w->pop + lo, w->item_pop + lo, NULL, lo, hi - lo, wt + longest, sl, sl + longest);
  }
done:
  reco__free(fill);
  reco__free(wt);
  reco__free(sl);
  return rc;
}

static int build_archetypes(world *w) {
  const reco_synth_params *p = w->p;
  int A = w->A = p->n_archetypes, C = w->C, d = w->dim;
  w->arch_theta = reco__malloc((size_t)A * C * sizeof *w->arch_theta);
  w->arch_vec = reco__malloc((size_t)A * d * sizeof *w->arch_vec);
  double *size = reco__malloc((size_t)A * sizeof *size);
  if (!w->arch_theta || !w->arch_vec || !size) {
    reco__free(size);
    return OOM("archetypes");
  }
  reco_rng r;
  stream(&r, p->seed, S_ARCH, 0);
  for (int a = 0; a < A; a++) {
    float *th = w->arch_theta + (size_t)a * C;
    double sum = 0;
    for (int c = 0; c < C; c++) sum += th[c] = (float)reco__rng_gamma(&r, 0.3);
    for (int c = 0; c < C; c++) th[c] = sum > 0 ? (float)(th[c] / sum) : 1.0f / C;
    unit_gauss(&r, w->arch_vec + (size_t)a * d, d);
    size[a] = reco__rng_gamma(&r, 2.0) + 0.05;
  }
  int rc = reco__alias_init(&w->arch_alias, size, A);
  reco__free(size);
  if (rc) return rc;
  /* each archetype's view of every (bucket, category) list: popularity x exp(affinity v_a . q_i) */
  size_t BC = (size_t)w->B * w->C, E = (size_t)w->tab_ptr[BC], longest = 1;
  for (size_t k = 0; k < BC; k++) longest = RECO_MAX(longest, (size_t)(w->tab_ptr[k + 1] - w->tab_ptr[k]));
  int failed = 0;
  int nt = p->threads > 0 ? p->threads : reco_get_threads();
#pragma omp parallel num_threads(nt)
  {
    double *wt = reco__malloc(2 * longest * sizeof *wt);
    int32_t *sl = reco__malloc(2 * longest * sizeof *sl);
    if (!wt || !sl) __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(dynamic, 1)
    for (int a = 0; a < A; a++) {
      const float *v = w->arch_vec + (size_t)a * d;
      pick *out = w->tab + ((size_t)a + 1) * E;
      for (size_t k = 0; k < BC && wt && sl; k++) {
        int64_t lo = w->tab_ptr[k], hi = w->tab_ptr[k + 1];
        for (int64_t x = lo; x < hi; x++) {
          int32_t it = w->tab_items[x];
          wt[x - lo] = w->item_pop[it] * exp(p->affinity * dot(v, w->item_vec + (size_t)it * d, d));
        }
        if (hi > lo) pick_build(out + lo, wt, w->tab_items + lo, 0, (int32_t)(hi - lo), wt + longest, sl, sl + longest);
      }
    }
    reco__free(wt);
    reco__free(sl);
  }
  return failed ? OOM("archetype tables") : 0;
}

/*
 * Per-user event counts summing to n_interactions exactly: a floor of a few events each, the
 * rest shared by LogNormal activity weights with cumulative rounding. Weights are capped at a
 * level K (found by bisection) so that nobody gets more than `cap` events, where the domain
 * forbids repeats and a user could otherwise run out of unseen items.
 */
static int build_counts(world *w) {
  const reco_synth_params *p = w->p;
  int32_t U = p->n_users;
  int64_t N = p->n_interactions;
  w->count = reco__malloc((size_t)U * sizeof *w->count);
  w->offset = reco__malloc(((size_t)U + 1) * sizeof *w->offset);
  w->user_top = reco__calloc((size_t)U, sizeof *w->user_top);
  w->user_arch = reco__malloc((size_t)U * sizeof *w->user_arch);
  w->order = reco__malloc((size_t)U * sizeof *w->order);
  double *act = reco__malloc((size_t)U * sizeof *act);
  if (!w->count || !w->offset || !w->user_top || !w->user_arch || !w->order || !act) {
    reco__free(act);
    return OOM("users");
  }
  double sigma = p->domain == RECO_SYNTH_STREAMING ? 0.9 : p->domain == RECO_SYNTH_NEWS ? 1.1 : 1.0;
  int64_t floor_n = p->domain == RECO_SYNTH_STREAMING ? 10 : p->domain == RECO_SYNTH_NEWS ? 3 : 5;
  if (floor_n * U > N) floor_n = N / U;
  double rest = (double)(N - floor_n * U);
  double cap = p->domain == RECO_SYNTH_ECOMMERCE ? (double)w->n_items : 0.5 * w->n_items;
  double hi = 0;
  for (int32_t u = 0; u < U; u++) {
    reco_rng r;
    stream(&r, p->seed, S_ACT, (uint64_t)u);
    act[u] = exp(sigma * reco__rng_normal(&r));
    if (act[u] > hi) hi = act[u];
    w->user_arch[u] = reco__alias_draw(&w->arch_alias, &r);
  }
  /* processing order: by archetype (a counting sort), then by index */
  int32_t *start = reco__calloc((size_t)w->A + 1, sizeof *start);
  if (!start) {
    reco__free(act);
    return OOM("users");
  }
  for (int32_t u = 0; u < U; u++) start[w->user_arch[u] + 1]++;
  for (int a = 0; a < w->A; a++) start[a + 1] += start[a];
  for (int32_t u = 0; u < U; u++) w->order[start[w->user_arch[u]]++] = u;
  reco__free(start);
  /* bisection on K: the largest count is about floor + rest * K / sum(min(act, K)), which
   * grows with K; keep the largest K that respects the cap (all equal if none does) */
  double K = hi, s_all = 0, a_min = hi;
  for (int32_t u = 0; u < U; u++) s_all += act[u], a_min = RECO_MIN(a_min, act[u]);
  if ((double)floor_n + rest * hi / s_all > cap) {
    double lo = 0;
    for (int it = 0; it < 60; it++) {
      double mid = 0.5 * (lo + hi), s = 0;
      for (int32_t u = 0; u < U; u++) s += RECO_MIN(act[u], mid);
      if ((double)floor_n + rest * mid / s <= cap) lo = mid;
      else hi = mid;
    }
    K = lo > 0 ? lo : a_min;
  }
  double total = 0;
  for (int32_t u = 0; u < U; u++) total += RECO_MIN(act[u], K);
  double cum = 0;
  int64_t prev = 0, off = 0;
  for (int32_t u = 0; u < U; u++) {
    cum += RECO_MIN(act[u], K);
    int64_t upto = u == U - 1 ? (int64_t)rest : (int64_t)llround(rest * (cum / total));
    if (upto > (int64_t)rest) upto = (int64_t)rest;
    w->count[u] = (int32_t)(floor_n + (upto - prev));
    prev = upto;
    w->offset[u] = off;
    off += w->count[u];
  }
  w->offset[U] = off;
  reco__free(act);
  return off == N ? 0 : reco__seterr(RECO_ESTATE, "synth: counts sum to %lld, expected %lld", (long long)off, (long long)N);
}

/* ------------------------------------------------------------------------------------------ */
/* Item metadata: titles, categories, tags, prices, years and texts from the word lists. */

static void civil_from_days(int64_t z, int *y, int *m, int *d) {
  /* days since 1970-01-01 -> proleptic Gregorian date (era arithmetic, 400-year cycles) */
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The n tags of list (length n_list, directions dirs) that q points at most, best first. */
static int top_tags(const float *q, const float *dirs, int n_list, int dim, int n, int *out) {
  int k = 0;
  float sc[16];
  for (int t = 0; t < n_list && t < 16; t++) sc[t] = dot(q, dirs + (size_t)t * dim, dim);
  for (int j = 0; j < n && j < n_list; j++) {
    int best = -1;
    for (int t = 0; t < n_list && t < 16; t++) {
      bool used = false;
      for (int x = 0; x < k; x++) used |= out[x] == t;
      if (!used && (best < 0 || sc[t] > sc[best])) best = t;
    }
    out[k++] = best;
  }
  return k;
}

static void lower_into(char *dst, size_t cap, const char *s) {
  size_t k = 0;
  for (; s[k] && k + 1 < cap; k++) dst[k] = (char)((s[k] >= 'A' && s[k] <= 'Z') ? s[k] + 32 : s[k]);
  dst[k] = '\0';
}

static int item_meta(const world *w, reco_dataset *ds, int32_t i) {
  const reco_synth_params *p = w->p;
  int d = w->dim, C = w->C;
  reco_rng r;
  stream(&r, p->seed, S_META, (uint64_t)i);
  const int16_t *cats = w->item_cats + (size_t)i * MAX_ITEM_CATS;
  int c0 = cats[0];
  const cat_words *cw = c0 < w->n_words ? &w->words[c0] : NULL;
  const float *q = w->item_vec + (size_t)i * d;
  char title[160], text[400], rating[48] = "";
  int tg[4] = {-1, -1, -1, -1}, n_tg = 0;
  if (cw) n_tg = top_tags(q, w->tag_dir + (size_t)c0 * 14 * d, list_len(cw->tags), d, 2, tg);
  const char *t0 = n_tg > 0 ? cw->tags[tg[0]] : "classic", *t1 = n_tg > 1 ? cw->tags[tg[1]] : "popular";
  if (!isnan(w->item_avg[i])) {
    /* reviews grow with popularity: up to ~3000 for the most popular item */
    int reviews = 2 + (int)(2000.0 * w->item_pop[i] / w->pop_max * (0.5 + reco__rng_uniform(&r)));
    snprintf(rating, sizeof rating, "rating=%.1f reviews=%d. ", (double)w->item_avg[i], reviews);
  }
  float price = NAN;
  int32_t year = 0;
  char low[64];
  switch (p->domain) {
  case RECO_SYNTH_ECOMMERCE: {
    double median = cw ? cw->price : 25;
    double pr = median * exp(0.6 * reco__rng_normal(&r));
    price = (float)(pr < 1 ? 0.99 : floor(pr) + 0.99);
    if (cw && !strcmp(cw->name, "books")) {
      const char *a = list_pick(cw->a, &r), *b = list_pick(cw->b, &r), *b2 = list_pick(cw->b, &r);
      switch (reco__rng_below(&r, 4)) {
      case 0: snprintf(title, sizeof title, "The %s %s", a, b); break;
      case 1: snprintf(title, sizeof title, "The %s of the %s %s", b2, a, b); break;
      case 2: snprintf(title, sizeof title, "%s %s", a, b); break;
      default: snprintf(title, sizeof title, "A %s for the %s", b, b2); break;
      }
      snprintf(text, sizeof text, "%sA %s book by %s %s. Also shelved under %s.", rating, t0, list_pick(k_first, &r),
               list_pick(k_last, &r), t1);
      year = 2024 - (int32_t)RECO_MIN(120.0, rng_exp(&r, 12));
    } else if (cw) {
      const char *brand = list_pick(k_brands, &r), *a = list_pick(cw->a, &r), *b = list_pick(cw->b, &r);
      const char *a2 = list_pick(cw->a, &r);
      if (a2 != a && reco__rng_uniform(&r) < 0.5) snprintf(title, sizeof title, "%s %s %s %s", brand, a, a2, b);
      else snprintf(title, sizeof title, "%s %s %s", brand, a, b);
      lower_into(low, sizeof low, b);
      snprintf(text, sizeof text, "%s%s %s by %s. Features: %s, %s.", rating, a, low, brand, t0, t1);
      year = 2024 - (int32_t)RECO_MIN(9.0, rng_exp(&r, 2.0));
    } else {
      const char *brand = list_pick(k_brands, &r);
      snprintf(title, sizeof title, "%s Model %d", brand, (int)(100 + reco__rng_below(&r, 900)));
      snprintf(text, sizeof text, "%sA %s product by %s.", rating, w->cat_name[c0], brand);
      year = 2024 - (int32_t)RECO_MIN(9.0, rng_exp(&r, 2.0));
    }
    break;
  }
  case RECO_SYNTH_STREAMING: {
#define FILM_WORD(list, pool) (cw && reco__rng_uniform(&r) < 0.5 ? list_pick(cw->list, &r) : list_pick(pool, &r))
    const char *a = FILM_WORD(a, k_film_adj), *b = FILM_WORD(b, k_film_noun), *b2 = FILM_WORD(b, k_film_noun);
#undef FILM_WORD
    switch (reco__rng_below(&r, 6)) {
    case 0: case 1: snprintf(title, sizeof title, "The %s %s", a, b); break;
    case 2: snprintf(title, sizeof title, "%s of the %s %s", b2, a, b); break;
    case 3: snprintf(title, sizeof title, "%s %s", a, b); break;
    case 4: snprintf(title, sizeof title, "Beyond the %s", b); break;
    default: snprintf(title, sizeof title, "%s Rising", b); break;
    }
    const char *mood = list_pick(k_moods, &r);
    lower_into(low, sizeof low, w->cat_name[c0]);
    snprintf(text, sizeof text, "%s%s %s %s %s about %s who %s.", rating, strchr("aeiou", mood[0]) ? "An" : "A", mood,
             low, w->item_series[i] ? "series" : "film", list_pick(k_characters, &r), list_pick(k_plots, &r));
    year = 2024 - (int32_t)RECO_MIN(74.0, rng_exp(&r, 12));
    break;
  }
  case RECO_SYNTH_NEWS: {
    const char *subj = cw ? list_pick(cw->a, &r) : "Officials", *obj = cw ? list_pick(cw->b, &r) : "New Plan";
    /* headline grammar: a plural subject ("Leaders") takes the verb without its 's' */
    const char *verb = list_pick(k_verbs, &r), *sp = strchr(verb, ' ');
    int vlen = sp ? (int)(sp - verb) : (int)strlen(verb);
    bool plural = subj[strlen(subj) - 1] == 's';
    snprintf(title, sizeof title, "%s %.*s%s %s%s", subj, plural ? vlen - 1 : vlen, verb, sp ? sp : "", obj,
             list_pick(k_suffixes, &r));
    int y, m, dd;
    int64_t pub = w->item_pub[i], days = pub >= 0 ? pub / DAY : (pub - DAY + 1) / DAY, sod = pub - days * DAY;
    civil_from_days(days, &y, &m, &dd);
    year = y;
    snprintf(text, sizeof text, "published=%04d-%02d-%02dT%02d:%02d:%02dZ. Reporting from %s: %s. More on %s, %s and %s.",
             y, m, dd, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), list_pick(k_cities, &r), title,
             w->cat_name[c0], t0, t1);
    break;
  }
  default: break;
  }
  int rc = reco__ds_set_title(ds, i, title, strlen(title));
  if (!rc) rc = reco__ds_set_text(ds, i, text, strlen(text));
  for (int j = 0; j < w->item_ncat[i] && !rc; j++)
    rc = reco__ds_add_category(ds, i, w->cat_name[cats[j]], strlen(w->cat_name[cats[j]]));
  for (int j = 0; j < n_tg && !rc; j++) rc = reco__ds_add_tag(ds, i, cw->tags[tg[j]], strlen(cw->tags[tg[j]]));
  if (!rc && w->item_series[i]) rc = reco__ds_add_tag(ds, i, "series", 6);
  if (!rc && p->domain == RECO_SYNTH_ECOMMERCE) {
    int g;
    top_tags(q, w->gtag_dir, 8, d, 1, &g);
    if (dot(q, w->gtag_dir + (size_t)g * d, d) > 0.45f) rc = reco__ds_add_tag(ds, i, k_generic_tags[g], strlen(k_generic_tags[g]));
  }
  if (!rc && !isnan(price)) rc = reco__ds_set_price(ds, i, price);
  if (!rc && year) rc = reco__ds_set_year(ds, i, year);
  (void)C;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Behaviour */

typedef struct scratch {
  int32_t *seen; /* per item: index + 1 of the last user who had it */
  float pvec[RECO_SYNTH_MAX_DIM];
  int arch;                                  /* the user's archetype */
  int16_t corder[RECO_SYNTH_MAX_CATEGORIES]; /* categories by decreasing preference */
  double ccum[RECO_SYNTH_MAX_CATEGORIES];    /* cumulative preference in that order */
  int cell;                                  /* the session's context cell, -1 = none */
} scratch;

typedef struct out_arrays {
  int32_t *u, *i;
  float *v;
  int64_t *ts;
  uint8_t *type;
  uint8_t *dev, *loc; /* context codes (1-based), NULL without context */
} out_arrays;

/* One item choice (see the header comment): O(candidates * dim). */
static int32_t choose(const world *w, const scratch *s, reco_rng *r, int32_t u, int32_t prev, int64_t t) {
  const reco_synth_params *p = w->p;
  int C = w->C, d = w->dim;
  size_t E = (size_t)w->tab_ptr[(size_t)w->B * C];
  const pick *atab = w->tab + ((size_t)s->arch + 1) * E;
  int32_t stamp = u + 1;
  bool news = w->item_pub != NULL, repeats = p->domain == RECO_SYNTH_ECOMMERCE;
  int bnow = 0;
  if (news) bnow = (int)clampd((double)((t - w->tb0) / DAY), 0, w->B - 1);
  int32_t fallback = -1;
  for (int attempt = 0; attempt < 6; attempt++) {
    int b = bnow;
    if (news) {
      int age = 0;
      while (age < 6 && reco__rng_uniform(r) < 0.45) age++;
      b = RECO_MAX(0, bnow - age);
    }
    double x = reco__rng_uniform(r);
    const float *anchor2 = NULL;
    const pick *tab = NULL;
    int32_t n = 0;
    int K = p->candidates;
    if (x >= p->p_popular) {
      x -= p->p_popular;
      int c;
      bool explore = false;
      if (x < p->p_continue && prev >= 0) {
        c = w->item_cats[(size_t)prev * MAX_ITEM_CATS + reco__rng_below(r, w->item_ncat[prev])];
        anchor2 = w->item_vec + (size_t)prev * d;
      } else if (x >= p->p_continue && x < p->p_continue + p->p_explore) {
        c = (int)reco__rng_below(r, (uint64_t)C);
        explore = true;
      } else if (s->cell >= 0 && reco__rng_uniform(r) < p->context_effect) {
        /* the context effect: the session's cell chooses the category (only drawn when e > 0,
         * so data without the effect is the same event for event) */
        double y = reco__rng_uniform(r);
        c = 0;
        while (c < C - 1 && y >= w->cell_cum[s->cell][c]) c++;
      } else {
        double y = reco__rng_uniform(r);
        int k = 0;
        while (k < C - 1 && y >= s->ccum[k]) k++;
        c = s->corder[k];
      }
      size_t k = (size_t)b * C + (size_t)c;
      n = (int32_t)(w->tab_ptr[k + 1] - w->tab_ptr[k]);
      tab = (explore ? w->tab : atab) + w->tab_ptr[k];
    }
    if (n == 0) { /* a popularity draw, or an empty category */
      tab = w->pop + w->bucket_first[b];
      n = w->bucket_first[b + 1] - w->bucket_first[b];
      K = 1;
      if (n == 0) continue;
    }
    /* draw all candidates first so that their vectors are fetched from memory in parallel */
    int32_t cand[64];
    int nc = 0;
    for (int j = 0; j < K; j++) {
      int32_t it = pick_draw(tab, n, r);
      if (news && w->item_pub[it] > t) continue;
      if (fallback < 0) fallback = it;
      if (s->seen[it] == stamp && !(repeats && reco__rng_uniform(r) < 0.08)) continue;
      __builtin_prefetch(w->item_vec + (size_t)it * d);
      cand[nc++] = it;
    }
    if (nc == 1) return cand[0];
    int32_t best = -1;
    float best_s = -INFINITY;
    for (int j = 0; j < nc; j++) {
      const float *q = w->item_vec + (size_t)cand[j] * d;
      float sc = dot(s->pvec, q, d) + (anchor2 ? dot(anchor2, q, d) : 0.f) + 0.1f * (float)reco__rng_uniform(r);
      if (sc > best_s) best_s = sc, best = cand[j];
    }
    if (best >= 0) return best;
  }
  /* the user's likely items are exhausted: any unseen item (published by now) will do */
  if (!repeats)
    for (int k = 0; k < 64; k++) {
      int32_t it = (int32_t)reco__rng_below(r, (uint64_t)w->n_items);
      if (s->seen[it] != stamp && !(news && w->item_pub[it] > t)) return it;
    }
  return fallback >= 0 ? fallback : 0; /* item 0 is the oldest article */
}

static float star_rating(const world *w, int32_t it, float aff, double bias, reco_rng *r) {
  double x = w->item_avg[it] + 1.6 * (aff - 0.35) + bias + 0.75 * reco__rng_normal(r);
  return (float)clampd(round(x), 1, 5);
}

static void gen_user(const world *w, int32_t u, scratch *s, const out_arrays *o) {
  const reco_synth_params *p = w->p;
  int C = w->C, d = w->dim;
  reco_rng r;
  stream(&r, p->seed, S_USER, (uint64_t)u);
  int a = s->arch = w->user_arch[u];
  /* category preference ~ Dirichlet(8 theta_a + 0.05), sorted for a short CDF scan */
  const float *th = w->arch_theta + (size_t)a * C;
  double g[RECO_SYNTH_MAX_CATEGORIES], sum = 0;
  for (int c = 0; c < C; c++) sum += g[c] = reco__rng_gamma(&r, 8.0 * th[c] + 0.05);
  for (int c = 0; c < C; c++) {
    int k = c;
    while (k > 0 && g[s->corder[k - 1]] < g[c]) s->corder[k] = s->corder[k - 1], k--;
    s->corder[k] = (int16_t)c;
  }
  double cum = 0;
  for (int k = 0; k < C; k++) s->ccum[k] = (cum += sum > 0 ? g[s->corder[k]] / sum : 1.0 / C);
  w->user_top[u] = s->corder[0];
  /* taste vector near the archetype's */
  float gv[RECO_SYNTH_MAX_DIM];
  unit_gauss(&r, gv, d);
  const float *av = w->arch_vec + (size_t)a * d;
  for (int k = 0; k < d; k++) s->pvec[k] = (float)((1 - p->taste_noise) * av[k] + p->taste_noise * gv[k]);
  normalize(s->pvec, d);
  double bias = 0.35 * reco__rng_normal(&r);
  int32_t cnt = w->count[u];
  if (cnt == 0) return;
  int64_t off = w->offset[u];
  /* active period and sessions */
  double span = (double)(w->t_end - p->t_start), f = reco__rng_uniform(&r);
  double t_lo = (double)p->t_start + 0.6 * f * f * span, t_hi = (double)w->t_end - 3600;
  if (t_hi < t_lo + 60) t_hi = t_lo + 60;
  double per_session = p->domain == RECO_SYNTH_ECOMMERCE ? 6 : p->domain == RECO_SYNTH_STREAMING ? 2.5 : 4;
  int32_t n_sess = (int32_t)RECO_MAX(1, llround(cnt / per_session));
  int32_t k = 0;
  double x = 0;
  int64_t t_last = INT64_MIN / 2;
  /* context: its own stream, so the events do not depend on whether context is generated */
  reco_rng rc;
  stream(&rc, p->seed, S_CTX, (uint64_t)u);
  double p_mobile = 0.1 + 0.8 * reco__rng_uniform(&rc);
  int dev = 0, loc = 0;
  s->cell = -1;
#define EMIT(ty, val)                                                                                     \
  do {                                                                                                  \
    o->u[off + k] = u, o->i[off + k] = it, o->v[off + k] = (val), o->ts[off + k] = t, o->type[off + k] = (ty); \
    if (o->dev) o->dev[off + k] = (uint8_t)(dev + 1), o->loc[off + k] = (uint8_t)(loc + 1);               \
    k++;                                                                                                \
  } while (0)
  for (int32_t sess = 0; sess < n_sess && k < cnt; sess++) {
    int32_t left = n_sess - sess, remaining = cnt - k;
    x = 1 - (1 - x) * pow(reco__rng_uniform(&r), 1.0 / left);
    int64_t t = (int64_t)(t_lo + x * (t_hi - t_lo));
    if (t < t_last + 1800) t = t_last + 1800;
    int32_t L = remaining;
    if (left > 1) {
      double m = (double)remaining / left;
      L = 1;
      if (m > 1) L += (int32_t)RECO_MIN(1e9, floor(log(1 - reco__rng_uniform(&r)) / log(1 - 1 / m)));
      L = RECO_MIN(L, remaining - (left - 1));
      L = RECO_MAX(L, 1);
    }
    int32_t end = k + L, prev = -1;
    if (p->context) {
      double y = reco__rng_uniform(&rc);
      dev = y < p_mobile ? 0 : reco__rng_uniform(&rc) < 0.1 ? 2 : 1;
      int hour = (int)(((t % 86400) + 86400) % 86400 / 3600), weekend = reco__ctx_weekpart(t);
      double z = reco__rng_uniform(&rc);
      loc = 0;
      if (!weekend && dev == 0 && ((hour >= 7 && hour < 9) || (hour >= 17 && hour < 19)) && z < 0.6) loc = 2;
      else if (!weekend && hour >= 9 && hour < 17 && z < 0.5) loc = 1;
      s->cell = p->context_effect > 0 ? dev * 4 + reco__ctx_daypart(t) : -1;
    }
    while (k < end) {
      int32_t it = choose(w, s, &r, u, prev, t);
      s->seen[it] = u + 1;
      float aff = dot(s->pvec, w->item_vec + (size_t)it * d, d), z = w->item_quality[it];
      switch (p->domain) {
      case RECO_SYNTH_ECOMMERCE:
        EMIT(RECO_EV_VIEW, 1.0f);
        if (k < end && reco__rng_uniform(&r) < clampd(0.3 + 0.45 * aff, 0.05, 0.9)) {
          t += 3 + (int64_t)rng_exp(&r, 25);
          EMIT(RECO_EV_CLICK, 1.0f);
          if (k < end && reco__rng_uniform(&r) < clampd(0.25 + 0.35 * aff + 0.1 * z, 0.05, 0.9)) {
            t += 5 + (int64_t)rng_exp(&r, 60);
            EMIT(RECO_EV_CART, 1.0f);
            if (k < end && reco__rng_uniform(&r) < clampd(0.55 + 0.1 * z, 0.1, 0.95)) {
              t += 10 + (int64_t)rng_exp(&r, 120);
              EMIT(RECO_EV_PURCHASE, 1.0f);
              if (p->explicit_ratings && k < end && reco__rng_uniform(&r) < 0.3) {
                t += 30 + (int64_t)rng_exp(&r, 300);
                EMIT(RECO_EV_RATING, star_rating(w, it, aff, bias, &r));
              }
            }
          }
        }
        t += 10 + (int64_t)rng_exp(&r, 90);
        break;
      case RECO_SYNTH_STREAMING: {
        double minutes = w->item_series[it] ? 25 + rng_exp(&r, 20) : 85 + rng_exp(&r, 25);
        if (p->explicit_ratings) {
          EMIT(RECO_EV_RATING, star_rating(w, it, aff, bias, &r));
        } else {
          double done = clampd(0.55 + 0.6 * (aff - 0.3) + 0.1 * z + 0.2 * reco__rng_normal(&r), 0.02, 1.0);
          EMIT(RECO_EV_VIEW, (float)(round(done * 100) / 100));
          minutes *= done;
        }
        t += (int64_t)(minutes * 60) + (int64_t)rng_exp(&r, 600);
        break;
      }
      default:
        EMIT(RECO_EV_CLICK, 1.0f);
        t += 20 + (int64_t)rng_exp(&r, 90);
        break;
      }
      prev = it;
    }
    t_last = t;
  }
#undef EMIT
}

/* ------------------------------------------------------------------------------------------ */
/* Generation */

static int add_ids(reco_dataset *ds, const char *prefix, int32_t n, bool users) {
  char buf[32];
  size_t plen = strlen(prefix);
  memcpy(buf, prefix, plen);
  for (int32_t k = 0; k < n; k++) {
    int len = snprintf(buf + plen, sizeof buf - plen, "%d", k + 1);
    int32_t idx = users ? reco__ds_user(ds, buf, plen + (size_t)len) : reco__ds_item(ds, buf, plen + (size_t)len);
    if (idx < 0) return idx;
    if (idx != k) return reco__seterr(RECO_ESTATE, "synth: id %s already present", buf);
  }
  return 0;
}

int reco__synth_generate(const reco_synth_params *p, const reco_progress *pr, reco_dataset **out) {
  *out = NULL;
  int rc = reco__synth_check(p);
  if (rc) return rc;
  world w = {.p = p};
  reco_dataset *ds = NULL;
  if ((rc = reco__progress(pr, "world", 0, 1, NULL))) return rc;
  if ((rc = build_categories(&w)) || (rc = build_items(&w)) || (rc = build_tables(&w)) ||
      (rc = build_archetypes(&w)) || (rc = build_counts(&w)))
    goto done;
  ds = reco__ds_new();
  if (!ds) {
    rc = OOM("the dataset");
    goto done;
  }
  if ((rc = add_ids(ds, "user_", p->n_users, true)) || (rc = add_ids(ds, "item_", p->n_items, false))) goto done;
  for (int32_t i = 0; i < p->n_items && !rc; i++) rc = item_meta(&w, ds, i);
  if (rc) goto done;
  size_t N = (size_t)p->n_interactions;
  if ((rc = reco__ds_reserve(ds, N ? N : 1))) goto done;
  if ((rc = reco__progress(pr, "world", 1, 1, NULL))) goto done;
  if ((rc = reco__progress(pr, "generate", 0, p->n_users, NULL))) goto done;

  out_arrays o = {ds->u, ds->i, ds->v, ds->ts, ds->type, NULL, NULL};
  if (p->context) { /* the dictionaries in code order: code k + 1 is k_devices[k] */
    for (int f = 0; f < RECO_CTX__STORED; f++) {
      ds->ctx[f] = reco__calloc(ds->cap, 1);
      ds->ctx_names[f] = reco__idmap_new();
      if (!ds->ctx[f] || !ds->ctx_names[f]) {
        rc = OOM("context");
        goto done;
      }
      for (int v = 0; v < (f == RECO_CTX_DEVICE ? SYN_DEVICES : SYN_LOCATIONS); v++) {
        const char *name = f == RECO_CTX_DEVICE ? k_devices[v] : k_locations[v];
        if (reco__idmap_add(ds->ctx_names[f], name, strlen(name)) < 0) {
          rc = OOM("context");
          goto done;
        }
      }
    }
    o.dev = ds->ctx[RECO_CTX_DEVICE];
    o.loc = ds->ctx[RECO_CTX_LOCATION];
    for (int cell = 0; cell < SYN_CELLS; cell++) {
      reco_rng r;
      stream(&r, p->seed, S_CELL, (uint64_t)cell);
      double g[RECO_SYNTH_MAX_CATEGORIES], sum = 0, cum = 0;
      for (int c = 0; c < w.C; c++) sum += g[c] = reco__rng_gamma(&r, 0.3);
      for (int c = 0; c < w.C; c++) w.cell_cum[cell][c] = (cum += sum > 0 ? g[c] / sum : 1.0 / w.C);
    }
  }
  int nt = p->threads > 0 ? p->threads : reco_get_threads();
  int failed = 0, stop = 0;
  int32_t done_users = 0;
#pragma omp parallel num_threads(nt)
  {
    scratch s;
    s.seen = reco__calloc((size_t)w.n_items, sizeof *s.seen);
    if (!s.seen) __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
#pragma omp for schedule(dynamic, 16)
    for (int32_t x = 0; x < p->n_users; x++) {
      int32_t u = w.order[x];
      if (!s.seen || __atomic_load_n(&stop, __ATOMIC_RELAXED) || __atomic_load_n(&failed, __ATOMIC_RELAXED)) continue;
      gen_user(&w, u, &s, &o);
      int32_t dn = __atomic_add_fetch(&done_users, 1, __ATOMIC_RELAXED);
#ifdef _OPENMP
      bool master = omp_get_thread_num() == 0;
#else
      bool master = true;
#endif
      if (master && pr && pr->fn && (dn & 1023) == 0 && reco__progress(pr, "generate", dn, p->n_users, NULL))
        __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    }
    reco__free(s.seen);
  }
  if (failed) {
    rc = OOM("per-thread scratch");
    goto done;
  }
  if (stop) {
    rc = reco__seterr(RECO_ECANCELED, "generate: canceled");
    goto done;
  }
  ds->n = N;
  ds->has_values = p->domain == RECO_SYNTH_STREAMING && p->explicit_ratings;
  snprintf(ds->source, sizeof ds->source, "synth:%s seed=%llu users=%d items=%d interactions=%lld",
           reco__synth_domain_name(p->domain), (unsigned long long)p->seed, p->n_users, p->n_items,
           (long long)p->n_interactions);
  /* user segments: favourite category and activity tier */
  double mean = (double)N / p->n_users;
  for (int32_t u = 0; u < p->n_users && !rc; u++) {
    char seg[64];
    const char *tier = w.count[u] < 0.5 * mean ? "light" : w.count[u] > 2 * mean ? "heavy" : "regular";
    int len = snprintf(seg, sizeof seg, "segment=%s-%s", w.cat_name[w.user_top[u]], tier);
    rc = reco__ds_set_user_attr(ds, u, seg, (size_t)len);
  }
  if (rc) goto done;
  if ((rc = reco__progress(pr, "generate", p->n_users, p->n_users, NULL))) goto done;
  if ((rc = reco__progress(pr, "index", 0, 1, NULL))) goto done;
  rc = reco__ds_finalize(ds);
  if (!rc) rc = reco__progress(pr, "index", 1, 1, NULL);
done:
  world_free(&w);
  if (rc) {
    reco_dataset_free(ds);
    return rc;
  }
  *out = ds;
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The "reco" folder writer. Rows are formatted by hand into large buffers (no stdio per
 * field); interactions are formatted in parallel chunks and written in order. */

typedef struct wbuf {
  char *p;
  size_t len, cap;
} wbuf;

static int wb_need(wbuf *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t nc = b->cap ? b->cap : (size_t)1 << 16;
  while (nc < b->len + extra) nc *= 2;
  char *q = reco__realloc(b->p, nc);
  if (!q) return RECO_ENOMEM;
  b->p = q;
  b->cap = nc;
  return 0;
}

static char *fmt_u64(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

static char *fmt_i64(char *p, int64_t v) {
  if (v < 0) {
    *p++ = '-';
    return fmt_u64(p, (uint64_t)0 - (uint64_t)v);
  }
  return fmt_u64(p, (uint64_t)v);
}

/*
 * A float that reads back as the same float: integers as integers, values with at most two
 * decimals (ratings 3.5, prices 79.99, completions 0.73) as such, anything else with "%.9g".
 * Writes at most 32 bytes.
 */
static char *fmt_float(char *p, float v) {
  if (v == 0) {
    *p++ = '0';
    return p;
  }
  if (fabsf(v) < 1e15f && v == (float)(int64_t)v) return fmt_i64(p, (int64_t)v);
  double x = (double)v * 100.0;
  if (fabs(x) < 1e15) {
    int64_t k = llround(x);
    if ((float)((double)k / 100.0) == v) {
      if (k < 0) *p++ = '-', k = -k;
      p = fmt_u64(p, (uint64_t)(k / 100));
      *p++ = '.';
      *p++ = (char)('0' + k / 10 % 10);
      if (k % 10) *p++ = (char)('0' + k % 10);
      return p;
    }
  }
  return p + snprintf(p, 32, "%.9g", (double)v);
}

/* RFC 4180: quote when the field holds a delimiter, quote or line break, or would lose
 * leading/trailing blanks to a trimming reader. */
static bool needs_quote(const char *s, size_t n) {
  if (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t')) return true;
  for (size_t k = 0; k < n; k++)
    if (s[k] == ',' || s[k] == '"' || s[k] == '\n' || s[k] == '\r') return true;
  return false;
}

/* Appends a field; the caller reserved 2 * n + 2 bytes. */
static char *fmt_field(char *p, const char *s, size_t n, bool quote) {
  if (!quote) {
    memcpy(p, s, n);
    return p + n;
  }
  *p++ = '"';
  for (size_t k = 0; k < n; k++) {
    if (s[k] == '"') *p++ = '"';
    *p++ = s[k];
  }
  *p++ = '"';
  return p;
}

static int wb_field(wbuf *b, const char *s, size_t n) {
  if (wb_need(b, 2 * n + 3)) return RECO_ENOMEM;
  b->len = (size_t)(fmt_field(b->p + b->len, s, n, needs_quote(s, n)) - b->p);
  return 0;
}

static int wb_str(wbuf *b, const char *s) {
  size_t n = strlen(s);
  if (wb_need(b, n)) return RECO_ENOMEM;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  return 0;
}

static int write_all(int fd, const char *p, size_t n, const char *path) {
  while (n) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return reco__seterr(RECO_EIO, "%s: %s", path, strerror(k < 0 ? errno : EIO));
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* A file written under a temporary name and renamed into place by out_close. */
typedef struct outfile {
  int fd;
  char path[4096], tmp[4100];
} outfile;

static int out_open(outfile *f, const char *dir, const char *name) {
  if (snprintf(f->path, sizeof f->path, "%s/%s", dir, name) >= (int)sizeof f->path)
    return reco__seterr(RECO_EINVAL, "%s: path too long", dir);
  snprintf(f->tmp, sizeof f->tmp, "%s.tmp", f->path);
  f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (f->fd < 0) return reco__seterr(RECO_EIO, "%s: %s", f->tmp, strerror(errno));
  return 0;
}

static int out_close(outfile *f, int rc) {
  if (close(f->fd) != 0 && !rc) rc = reco__seterr(RECO_EIO, "%s: %s", f->tmp, strerror(errno));
  if (!rc && rename(f->tmp, f->path) != 0) rc = reco__seterr(RECO_EIO, "%s: %s", f->path, strerror(errno));
  if (rc) unlink(f->tmp);
  return rc;
}

static int mkdir_p(const char *dir) {
  char buf[4096];
  size_t n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return reco__seterr(RECO_EINVAL, "bad output directory '%s'", dir);
  memcpy(buf, dir, n + 1);
  for (size_t k = 1; k <= n; k++) {
    if (buf[k] != '/' && buf[k] != '\0') continue;
    char c = buf[k];
    buf[k] = '\0';
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
      return reco__seterr(RECO_EIO, "cannot create directory %s: %s", buf, strerror(errno));
    buf[k] = c;
  }
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return reco__seterr(RECO_EIO, "%s: not a directory", dir);
  return 0;
}

typedef struct idref {
  const char *s;
  uint32_t len;
  bool quote;
} idref;

static idref *id_refs(const reco_idmap *m, int32_t n) {
  idref *r = reco__malloc(((size_t)n + 1) * sizeof *r);
  if (!r) return NULL;
  for (int32_t k = 0; k < n; k++) {
    const char *s = reco__idmap_str(m, k);
    r[k].s = s ? s : "";
    r[k].len = (uint32_t)strlen(r[k].s);
    r[k].quote = needs_quote(r[k].s, r[k].len);
  }
  return r;
}

#define ROWS_PER_CHUNK 65536

static int format_rows(const reco_dataset *ds, const idref *users, const idref *items, size_t lo, size_t hi, wbuf *b) {
  const char *names[RECO_EV__COUNT];
  uint8_t nlen[RECO_EV__COUNT];
  for (int k = 0; k < RECO_EV__COUNT; k++) {
    names[k] = reco__event_name(k);
    nlen[k] = (uint8_t)strlen(names[k]);
  }
  b->len = 0;
  for (size_t r = lo; r < hi; r++) {
    const idref *u = &users[ds->u[r]], *it = &items[ds->i[r]];
    if (wb_need(b, 2 * (size_t)u->len + 2 * (size_t)it->len + 128)) return RECO_ENOMEM;
    char *p = b->p + b->len;
    p = fmt_field(p, u->s, u->len, u->quote);
    *p++ = ',';
    p = fmt_field(p, it->s, it->len, it->quote);
    *p++ = ',';
    p = fmt_float(p, ds->v[r]);
    *p++ = ',';
    if (ds->has_ts) p = fmt_i64(p, ds->ts[r]);
    *p++ = ',';
    int ty = ds->type[r] < RECO_EV__COUNT ? ds->type[r] : RECO_EV_RATING;
    memcpy(p, names[ty], nlen[ty]);
    p += nlen[ty];
    for (int x = 0; x < RECO_CTX__STORED && ds->ctx[RECO_CTX_DEVICE]; x++) {
      /* context columns: written for every row once the device column exists */
      const char *cv = ds->ctx[x] && ds->ctx[x][r] ? reco__idmap_str(ds->ctx_names[x], ds->ctx[x][r] - 1) : "";
      size_t cl = strlen(cv); /* the generator's names: short, no quoting needed */
      *p++ = ',';
      memcpy(p, cv, RECO_MIN(cl, (size_t)16));
      p += RECO_MIN(cl, (size_t)16);
    }
    *p++ = '\n';
    b->len = (size_t)(p - b->p);
  }
  return 0;
}

static int write_interactions(const reco_dataset *ds, const char *dir) {
  outfile f;
  int rc = out_open(&f, dir, "interactions.csv");
  if (rc) return rc;
  int nt = reco_get_threads();
  if (nt < 1) nt = 1;
  idref *users = id_refs(ds->users, ds->n_users), *items = id_refs(ds->items, ds->n_items);
  wbuf *bufs = reco__calloc((size_t)nt, sizeof *bufs);
  if (!users || !items || !bufs) rc = OOM("writing interactions");
  static const char header[] = "user,item,value,timestamp,type\n", header_ctx[] = "user,item,value,timestamp,type,device,location\n";
  if (!rc)
    rc = ds->ctx[RECO_CTX_DEVICE] ? write_all(f.fd, header_ctx, sizeof header_ctx - 1, f.tmp)
                                  : write_all(f.fd, header, sizeof header - 1, f.tmp);
  size_t n_chunks = (ds->n + ROWS_PER_CHUNK - 1) / ROWS_PER_CHUNK;
  for (size_t c0 = 0; c0 < n_chunks && !rc; c0 += (size_t)nt) {
    int cnt = (int)RECO_MIN((size_t)nt, n_chunks - c0), failed = 0;
#pragma omp parallel for num_threads(nt) schedule(static, 1)
    for (int j = 0; j < cnt; j++) {
      size_t lo = (c0 + (size_t)j) * ROWS_PER_CHUNK, hi = RECO_MIN(ds->n, lo + ROWS_PER_CHUNK);
      if (format_rows(ds, users, items, lo, hi, &bufs[j])) __atomic_store_n(&failed, 1, __ATOMIC_RELAXED);
    }
    if (failed) rc = OOM("writing interactions");
    for (int j = 0; j < cnt && !rc; j++) rc = write_all(f.fd, bufs[j].p, bufs[j].len, f.tmp);
  }
  if (bufs)
    for (int j = 0; j < nt; j++) reco__free(bufs[j].p);
  reco__free(bufs);
  reco__free(users);
  reco__free(items);
  return out_close(&f, rc);
}

/* Joins the names of ids [lo, hi) from map with '|' into j (reset first). */
static int join_names(wbuf *j, const reco_idmap *map, const int32_t *ids, int64_t lo, int64_t hi) {
  j->len = 0;
  for (int64_t k = lo; k < hi; k++) {
    if (k > lo && wb_str(j, "|")) return RECO_ENOMEM;
    const char *s = reco__idmap_str(map, ids[k]);
    if (s && wb_str(j, s)) return RECO_ENOMEM;
  }
  return 0;
}

static int write_items(const reco_dataset *ds, const char *dir) {
  const reco_itemmeta *m = ds->meta;
  wbuf b = {0}, j = {0};
  int rc = wb_str(&b, "item,title,category,tags,price,year,text\n");
  for (int32_t i = 0; i < ds->n_items && !rc; i++) {
    const char *id = reco__idmap_str(ds->items, i);
    bool has = i < m->n_items;
    rc = wb_field(&b, id, strlen(id)) || wb_str(&b, ",");
    if (!rc && has && m->title_off[i] >= 0) {
      const char *t = m->text.buf + m->title_off[i];
      rc = wb_field(&b, t, strlen(t));
    }
    if (!rc) rc = wb_str(&b, ",");
    if (!rc && has && m->cat_ptr) rc = join_names(&j, m->cats, m->cat_idx, m->cat_ptr[i], m->cat_ptr[i + 1]) ||
                                       wb_field(&b, j.p ? j.p : "", j.len);
    if (!rc) rc = wb_str(&b, ",");
    if (!rc && has && m->tag_ptr) rc = join_names(&j, m->tags, m->tag_idx, m->tag_ptr[i], m->tag_ptr[i + 1]) ||
                                       wb_field(&b, j.p ? j.p : "", j.len);
    if (!rc) rc = wb_need(&b, 80);
    if (!rc) {
      char *p = b.p + b.len;
      *p++ = ',';
      if (has && !isnan(m->price[i])) p = fmt_float(p, m->price[i]);
      *p++ = ',';
      if (has && m->year[i]) p = fmt_i64(p, m->year[i]);
      *p++ = ',';
      b.len = (size_t)(p - b.p);
    }
    if (!rc && has && m->desc_off[i] >= 0) {
      const char *t = m->text.buf + m->desc_off[i];
      rc = wb_field(&b, t, strlen(t));
    }
    if (!rc) rc = wb_str(&b, "\n");
  }
  outfile f;
  if (rc) rc = OOM("writing items");
  else if (!(rc = out_open(&f, dir, "items.csv"))) rc = out_close(&f, write_all(f.fd, b.p, b.len, f.tmp));
  reco__free(b.p);
  reco__free(j.p);
  return rc;
}

/* users.csv: one column per attribute key ("key=value;..."), in order of first appearance. */
#define MAX_USER_KEYS 32
static int write_users(const reco_dataset *ds, const char *dir) {
  const char *keys[MAX_USER_KEYS];
  size_t klen[MAX_USER_KEYS];
  int n_keys = 0;
  int32_t n_att = (int32_t)RECO_MIN((size_t)ds->n_users, ds->uattr_cap);
  for (int32_t u = 0; u < n_att; u++) {
    if (ds->uattr_off[u] < 0) continue;
    for (const char *s = ds->uattr.buf + ds->uattr_off[u]; *s;) {
      const char *eq = strchr(s, '='), *semi = strchr(s, ';');
      if (!semi) semi = s + strlen(s);
      if (eq && eq < semi) {
        bool known = false;
        for (int k = 0; k < n_keys && !known; k++) known = klen[k] == (size_t)(eq - s) && !memcmp(keys[k], s, klen[k]);
        if (!known && n_keys < MAX_USER_KEYS) keys[n_keys] = s, klen[n_keys++] = (size_t)(eq - s);
      }
      s = *semi ? semi + 1 : semi;
    }
  }
  if (n_keys == 0) return 0;
  wbuf b = {0};
  int rc = wb_str(&b, "user");
  for (int k = 0; k < n_keys && !rc; k++) rc = wb_str(&b, ",") || wb_field(&b, keys[k], klen[k]);
  if (!rc) rc = wb_str(&b, "\n");
  for (int32_t u = 0; u < ds->n_users && !rc; u++) {
    const char *id = reco__idmap_str(ds->users, u);
    rc = wb_field(&b, id, strlen(id));
    const char *att = u < n_att && ds->uattr_off[u] >= 0 ? ds->uattr.buf + ds->uattr_off[u] : "";
    for (int k = 0; k < n_keys && !rc; k++) {
      rc = wb_str(&b, ",");
      for (const char *s = att; *s && !rc;) {
        const char *eq = strchr(s, '='), *semi = strchr(s, ';');
        if (!semi) semi = s + strlen(s);
        if (eq && eq < semi && (size_t)(eq - s) == klen[k] && !memcmp(s, keys[k], klen[k])) {
          rc = wb_field(&b, eq + 1, (size_t)(semi - eq - 1));
          break;
        }
        s = *semi ? semi + 1 : semi;
      }
    }
    if (!rc) rc = wb_str(&b, "\n");
  }
  outfile f;
  if (rc) rc = OOM("writing users");
  else if (!(rc = out_open(&f, dir, "users.csv"))) rc = out_close(&f, write_all(f.fd, b.p, b.len, f.tmp));
  reco__free(b.p);
  return rc;
}

int reco__synth_write(const reco_dataset *ds, const char *dir) {
  if (!ds || !dir) return reco__seterr(RECO_EINVAL, "synth_write: no dataset or directory");
  if (!ds->finalized) return reco__seterr(RECO_ESTATE, "synth_write: dataset not finalized");
  int rc = mkdir_p(dir);
  if (!rc && ds->meta) rc = write_items(ds, dir);
  if (!rc) rc = write_users(ds, dir);
  if (!rc) rc = write_interactions(ds, dir);
  return rc;
}

float reco__synth_text_rating(const char *text) {
  if (!text || strncmp(text, "rating=", 7) != 0) return NAN;
  char *end;
  float v = strtof(text + 7, &end);
  return end == text + 7 ? NAN : v;
}
