/* dhw: the heat stress of one reef site, as degree heating weeks, from its weekly sea
 * surface temperatures (the method of NOAA Coral Reef Watch).
 *
 *     dhw INPUT.json WEEKS.csv > result.json
 *
 * A week's HotSpot is its temperature above the site's maximum monthly mean (mmm); its
 * degree heating weeks (DHW) are the sum of the HotSpots of at least 1 °C over the 12
 * weeks up to it. Each week gets an alert level: none (no HotSpot), watch (under 1 °C),
 * warning (DHW under 4), alert 1 (under 8) or alert 2.
 *
 * INPUT.json is the job's input, which the web API has already checked against the job
 * type's input schema: an object with a number "mmm" and an array of numbers
 * "weeklySst", so this reads those two keys and nothing more. One CSV row per week goes
 * to WEEKS.csv, the result (the type's result schema) to stdout, and what it does to
 * stderr, which is the job's log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 12
#define MAX_INPUT (4 << 20)
#define MAX_WEEKS 5200

static const char *LEVELS[] = {"none", "watch", "warning", "alert 1", "alert 2"};

static int fail(const char *what) {
    fprintf(stderr, "dhw: %s\n", what);
    return 2;
}

/* The text just after `"key":` in the input, or NULL. */
static const char *value_of(const char *json, const char *key) {
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%s\"", key);
    const char *at = strstr(json, quoted);
    if (at == NULL) return NULL;
    at += strlen(quoted);
    at += strspn(at, " \t\r\n");
    return *at == ':' ? at + 1 : NULL;
}

static size_t read_weeks(const char *at, double *weeks) {
    size_t count = 0;
    at += strspn(at, " \t\r\n");
    if (*at++ != '[') return 0;
    for (;;) {
        at += strspn(at, " \t\r\n");
        if (*at == ']' || count == MAX_WEEKS) return count;
        char *end;
        weeks[count] = strtod(at, &end);
        if (end == at) return 0;
        count++;
        at = end + strspn(end, " \t\r\n");
        if (*at == ',') at++;
    }
}

static int level(double hotspot, double dhw) {
    if (hotspot <= 0) return 0;
    if (hotspot < 1) return 1;
    if (dhw < 4) return 2;
    return dhw < 8 ? 3 : 4;
}

int main(int argc, char **argv) {
    if (argc != 3) return fail("usage: dhw INPUT.json WEEKS.csv > result.json");
    static char json[MAX_INPUT + 1];
    static double sst[MAX_WEEKS], hotspot[MAX_WEEKS];
    FILE *input = fopen(argv[1], "r");
    if (input == NULL) return fail("cannot open the input");
    size_t size = fread(json, 1, MAX_INPUT, input);
    fclose(input);
    json[size] = '\0';

    const char *mmm_at = value_of(json, "mmm");
    const char *weeks_at = value_of(json, "weeklySst");
    if (mmm_at == NULL || weeks_at == NULL) return fail("the input has no mmm or weeklySst");
    double mmm = strtod(mmm_at, NULL);
    size_t weeks = read_weeks(weeks_at, sst);
    if (weeks == 0) return fail("weeklySst holds no temperatures");
    fprintf(stderr, "dhw: %zu weeks, maximum monthly mean %.2f degC\n", weeks, mmm);

    FILE *csv = fopen(argv[2], "w");
    if (csv == NULL) return fail("cannot write the weeks' table");
    fprintf(csv, "week,sst,hotspot,dhw,alert\n");
    double max_dhw = 0;
    size_t peak = 1;
    int worst = 0;
    for (size_t week = 0; week < weeks; week++) {
        hotspot[week] = sst[week] > mmm ? sst[week] - mmm : 0;
        double dhw = 0;
        for (size_t back = week + 1 > WINDOW ? week + 1 - WINDOW : 0; back <= week; back++) {
            if (hotspot[back] >= 1) dhw += hotspot[back];
        }
        int alert = level(hotspot[week], dhw);
        fprintf(csv, "%zu,%.2f,%.2f,%.2f,%s\n", week + 1, sst[week], hotspot[week], dhw,
                LEVELS[alert]);
        if (dhw > max_dhw) {
            max_dhw = dhw;
            peak = week + 1;
        }
        if (alert > worst) worst = alert;
    }
    if (fclose(csv) != 0) return fail("cannot write the weeks' table");
    fprintf(stderr, "dhw: at most %.2f degree heating weeks, in week %zu\n", max_dhw, peak);
    printf("{\"weeks\": %zu, \"maxDhw\": %.2f, \"peakWeek\": %zu, \"alert\": \"%s\"}\n", weeks,
           max_dhw, peak, LEVELS[worst]);
    return 0;
}
